package dispatcher_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/dispatcher"
)

// annotatedDep is a named dependency a command's constructor takes,
// the reason to annotate the constructor with fx.ParamTags.
type annotatedDep struct{}

func newAnnotatedCommand(annotatedDep) dispatcher.Command {
	return dispatcher.After("X.CallbackAfterAnnotated", func(context.Context, *dispatcher.Event[struct{}]) error { return nil })
}

func newAnnotatedCommands(annotatedDep) []dispatcher.Command {
	return []dispatcher.Command{newAnnotatedCommand(annotatedDep{})}
}

// buildCommands builds an app providing the named dependency and provide,
// and returns the commands group and the build error.
func buildCommands(provide any) (commands []dispatcher.Command, err error) {
	app := fx.New(fx.NopLogger,
		fx.Provide(fx.Annotate(func() annotatedDep { return annotatedDep{} }, fx.ResultTags(`name:"dep"`))),
		fx.Provide(provide),
		fx.Invoke(fx.Annotate(func(cs []dispatcher.Command) { commands = cs }, fx.ParamTags(dispatcher.CommandGroup))))
	return commands, app.Err()
}

// TestAnnotatedConstructorIsRefusedWithTheRecipe: a constructor already
// annotated with fx.Annotate (fx.ParamTags for a named dependency, say),
// which fx cannot annotate again, given to AsCommand or AsCommands fails
// the build saying so and how to write it, as one fx.Annotate with the
// group's annotations; AsCommand said the command itself was given
// instead of its constructor, and AsCommands left fx to say "must provide
// constructor function" with the annotation's fields. The recipe the
// error gives does register the command.
func TestAnnotatedConstructorIsRefusedWithTheRecipe(t *testing.T) {
	tests := []struct {
		name    string
		provide any
		want    string
		recipe  any
	}{
		{"AsCommand", dispatcher.AsCommand(fx.Annotate(newAnnotatedCommand, fx.ParamTags(`name:"dep"`))),
			"fx.As(new(dispatcher.Command)), fx.ResultTags(dispatcher.CommandGroup)",
			fx.Annotate(newAnnotatedCommand, fx.ParamTags(`name:"dep"`), fx.As(new(dispatcher.Command)), fx.ResultTags(dispatcher.CommandGroup))},
		{"AsCommands", dispatcher.AsCommands(fx.Annotate(newAnnotatedCommands, fx.ParamTags(`name:"dep"`))),
			"fx.ResultTags(`group:\"commands,flatten\"`)",
			fx.Annotate(newAnnotatedCommands, fx.ParamTags(`name:"dep"`), fx.ResultTags(`group:"commands,flatten"`))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildCommands(tc.provide)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			for _, want := range []string{"dispatcher: " + tc.name + "(fx.Annotate(…))", "already annotated", tc.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want one containing %q", err, want)
				}
			}
			cs, err := buildCommands(tc.recipe)
			if err != nil || len(cs) != 1 || cs[0].Name() != "X.CallbackAfterAnnotated" {
				t.Fatalf("the recipe of the error: commands %v, error %v", cs, err)
			}
		})
	}
}
