package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mainArgsChild, set in the environment of the test binary run again, is
// the os.Args (JSON) with which TestMainGoesByTheBinarysName's child
// calls Main.
const mainArgsChild = "CLI_TEST_MAIN_ARGS"

// TestMainGoesByTheBinarysName: a program of the user's own runs the
// command line with cli.Main (README, "Run it"), built as a binary of its
// own name (examples/moderation's moderated). Its help, its examples, the
// commands its messages tell the user to run and the prefix of its errors
// name that binary, as the user runs it, not imcallback, a command their
// shell may not have, or the stock binary, which lacks their modules.
func TestMainGoesByTheBinarysName(t *testing.T) {
	if raw := os.Getenv(mainArgsChild); raw != "" {
		if err := json.Unmarshal([]byte(raw), &os.Args); err != nil {
			t.Fatal(err)
		}
		Main()
		return
	}
	// A file without an app: the hint says what --dev gives, which for
	// the stock binary is make run's app, a command of imcallback's
	// repository, not of the program's.
	noApp := filepath.Join(t.TempDir(), "noapp.yaml")
	if err := os.WriteFile(noApp, []byte("log_level: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		fail bool
		want []string // in what the binary writes, stdout and stderr
	}{
		{"an unknown command", []string{"pase"}, true, []string{`moderated: unknown command "pase" for "moderated"`}},
		{"help", []string{"--help"}, false, []string{"\n  moderated [flags]", `Use "moderated [command] --help"`}},
		{"a group's help", []string{"delivery"}, false, []string{"\n  moderated delivery [command]"}},
		{"version", []string{"version"}, false, []string{"moderated "}},
		{"send's examples", []string{"send", "--help"}, false, []string{"\n  moderated send --command Group.CallbackAfterCreateTopic --sample"}},
		{"replay's examples", []string{"events", "replay", "--help"}, false, []string{"\n  moderated events replay --dead\n"}},
		{"a hint", []string{"events", "get", "0"}, true, []string{"moderated: <seq> \"0\"", "as `moderated events list` shows it"}},
		{"a flag that does not apply", []string{"version", "--offline"}, true, []string{"--offline does not apply to moderated version"}},
		{"the binary's .exe", []string{"pase"}, true, []string{`moderated: unknown command "pase" for "moderated"`}},
		{"a configuration hint", []string{"config", "check", "--config", noApp}, true,
			[]string{"or --dev for the development app, as `moderated serve --dev` runs it"}},
		{"allowlist's help", []string{"allowlist", "--help"}, false, []string{"--dev for the development app, as `moderated serve --dev` runs it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv0 := "/opt/bin/moderated"
			if tt.name == "the binary's .exe" {
				argv0 = "moderated.exe"
			}
			args, err := json.Marshal(append([]string{argv0}, tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestMainGoesByTheBinarysName$")
			cmd.Env = append(os.Environ(), mainArgsChild+"="+string(args))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case tt.fail && !(errors.As(err, &exit) && exit.ExitCode() == 1):
				t.Fatalf("%v: %v, want exit status 1:\n%s", tt.args, err, out)
			case !tt.fail && err != nil:
				t.Fatalf("%v: %v:\n%s", tt.args, err, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("%v: the output lacks %q:\n%s", tt.args, want, out)
				}
			}
			if strings.Contains(string(out), "imcallback ") || strings.Contains(string(out), "imcallback:") ||
				strings.Contains(string(out), "make run") {
				t.Errorf("%v: the output names imcallback as the command:\n%s", tt.args, out)
			}
		})
	}
}

// TestProgramName: the name is the binary's base name, without Windows'
// .exe, and imcallback when os.Args has none.
func TestProgramName(t *testing.T) {
	tests := []struct{ argv0, want string }{
		{"/opt/bin/moderated", "moderated"},
		{"moderated", "moderated"},
		{"./bin/imcallback", "imcallback"},
		{"/tmp/go-build1/b001/exe/moderated", "moderated"},
		{"moderated.exe", "moderated"},
		{"", "imcallback"},
	}
	for _, tt := range tests {
		if got := programName(tt.argv0); got != tt.want {
			t.Errorf("programName(%q) = %q, want %q", tt.argv0, got, tt.want)
		}
	}
}

// TestRunGoesByTheBinarysName: a program of the user's own that runs the
// command line with cli.Run (README: one that calls it and keeps running)
// passes it os.Args[1:] from its own binary, moderated; its help, its
// examples, the commands its messages name and version named imcallback,
// a command the user's shell may not have, or the stock binary, which
// lacks their modules. Run goes by os.Args[0]'s name, as Main does.
func TestRunGoesByTheBinarysName(t *testing.T) {
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = []string{"/opt/bin/moderated"}
	tests := []struct {
		name string
		args []string
		fail bool
		want []string // in the output or the error
	}{
		{"an unknown command", []string{"pase"}, true, []string{`unknown command "pase" for "moderated"`}},
		{"help", []string{"--help"}, false, []string{"\n  moderated [flags]", `Use "moderated [command] --help"`}},
		{"version", []string{"version"}, false, []string{"moderated "}},
		{"send's examples", []string{"send", "--help"}, false, []string{"\n  moderated send --command Group.CallbackAfterCreateTopic --sample"}},
		{"a hint", []string{"events", "get", "0"}, true, []string{"as `moderated events list` shows it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(tt.args, &out, &out)
			if tt.fail != (err != nil) {
				t.Fatalf("%v: %v, want failure %v:\n%s", tt.args, err, tt.fail, out.String())
			}
			got := out.String()
			if err != nil {
				got += "\n" + err.Error()
			}
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("%v: the output lacks %q:\n%s", tt.args, want, got)
				}
			}
			if strings.Contains(got, "imcallback ") || strings.Contains(got, "make run") {
				t.Errorf("%v: the output names imcallback as the command:\n%s", tt.args, got)
			}
		})
	}
}
