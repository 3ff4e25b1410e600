package topicsync

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
)

// TestStartAdoptsTopicsStoredBeforeApps: a service of one app gives it the
// topics stored before topics were kept per app, so that its callbacks
// change them again; a service of several cannot tell whose they are and
// says so.
func TestStartAdoptsTopicsStoredBeforeApps(t *testing.T) {
	tests := []struct {
		name      string
		apps      []string
		wantApp   string // the legacy topic's app after the start
		wantLevel string // the line logged about it
	}{
		{"one app", []string{"1400000001"}, "1400000001", "info"},
		{"several apps", []string{"1400000001", "1400000002"}, LegacyAppID, "warn"},
		{"one app, with topics of an app already", []string{"1400000001"}, LegacyAppID, "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "topics.db"), zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			legacy := Topic{SdkAppID: LegacyAppID, TopicID: "@TGS#_g@TOPIC#_old", GroupID: "@TGS#_g", CreatedAt: time.Now()}
			if err := s.Create(ctx, legacy); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tt.name, "already") { // the store served apps since the upgrade
				kept := Topic{SdkAppID: "1400000002", TopicID: "@TGS#_g@TOPIC#_new", GroupID: "@TGS#_g", CreatedAt: time.Now()}
				if err := s.Create(ctx, kept); err != nil {
					t.Fatal(err)
				}
			}
			core, logs := observer.New(zap.InfoLevel)
			if err := adoptOrWarn(ctx, s, tt.apps, zap.New(core)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, tt.wantApp, legacy.TopicID); err != nil {
				t.Errorf("the legacy topic under app %q: %v", tt.wantApp, err)
			}
			if entries := logs.All(); len(entries) != 1 || entries[0].Level.String() != tt.wantLevel {
				t.Errorf("logged %v, want one %s line", entries, tt.wantLevel)
			}
		})
	}
}

// TestStoreErrorNamesTheSetting: a store that cannot be opened at start
// names the setting to check, and never the DSN's password.
func TestStoreErrorNamesTheSetting(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"PostgreSQL unreachable", config.Config{StoreDSN: "postgres://u:hunter2secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"},
			"check IMCALLBACK_STORE_DSN"},
		{"data directory not writable", config.Config{DataDir: "/proc/imcallback-test"}, "check IMCALLBACK_DATA_DIR=/proc/imcallback-test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc := fxtest.NewLifecycle(t)
			if _, err := NewStoreFromConfig(storeIn{Lifecycle: lc, Config: &tt.cfg, Log: zap.NewNop()}); err != nil {
				t.Fatalf("NewStoreFromConfig: %v, want the store opened by the start", err)
			}
			err := lc.Start(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2secret") {
				t.Errorf("start: %v, want an error saying %q and no password", err, tt.want)
			}
		})
	}
}

// TestStopSaysTheStoreIsClosed: the stop logs that the topic store is
// closed, as the start logs that it was opened; the stop's log ended with
// the delivery's line, and nothing said the stores, which close last, had.
func TestStopSaysTheStoreIsClosed(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	lc := fxtest.NewLifecycle(t)
	cfg := config.Config{DataDir: t.TempDir()}
	if _, err := NewStoreFromConfig(storeIn{Lifecycle: lc, Config: &cfg, Log: zap.New(core)}); err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	if n := logs.FilterMessage("topic store closed").Len(); n != 0 {
		t.Fatalf("%d lines say the store is closed while it is open", n)
	}
	lc.RequireStop()
	if n := logs.FilterMessage("topic store closed").Len(); n != 1 {
		t.Fatalf("%d lines say the store is closed after the stop, want 1; the log:\n%v", n, logs.All())
	}
}
