package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"strings"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/tooling"
)

// render returns the Markdown command reference of entries.
func render(entries []catalogue.Entry) []byte {
	var b bytes.Buffer
	b.WriteString("# Callback command reference\n\n")
	b.WriteString("<!-- Generated from commands/catalogue by `go generate ./...`; do not edit. -->\n\n")
	fmt.Fprintf(&b, "%d commands ([docs/protocol.md](protocol.md) §4). Register a handler with the command's typed descriptor, "+
		"e.g. `c2c.BeforeSendMsgCommand.Handle(fn)`; payload types live in `commands/<area>`. "+
		"**Kind**: before (the answer decides), after (the answer is ignored), request-response (answered like a before-command within 2 s). "+
		"**Deny codes**: custom codes passed to the client; outside the range a deny is sent as plain deny (1). "+
		"**Drop**: silent drop (ErrorCode 2) accepted. "+
		"When a before-handler fails or misses its deadline, the service sends the command's `dispatcher.WithFallback` decision if set, "+
		"otherwise `IMCALLBACK_BEFORE_FALLBACK` (default allow, which is also what IM does when no answer arrives). "+
		"Fields marked `[]` are arrays; `{…}` lists an object's fields.\n\n", len(entries))
	b.WriteString("| Command | Kind | Descriptor | Payload | Payload fields | Reply type | Reply fields | Deny codes | Drop | Dedup key | Notes |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, e := range entries {
		name := "`" + e.Name() + "`"
		payload := "`" + e.Area() + "." + e.Command.Tooling(tooling.K).PayloadType().Name() + "`"
		if e.Batched {
			payload += " (batch of 1–100 events)"
		}
		descriptor := "`" + descriptorName(e) + "`"
		reply, replyType := "—", "—"
		if t := e.Command.Tooling(tooling.K).ReplyType(); t != nil {
			reply = fields(t)
			replyType = "`" + path.Base(t.PkgPath()) + "." + t.Name() + "`"
		}
		codes, drop := "—", "—"
		if e.Kind() != catalogue.After {
			codes = "none"
			if e.DenyCodes != (dispatcher.CodeRange{}) {
				codes = fmt.Sprintf("%d–%d", e.DenyCodes.Min, e.DenyCodes.Max)
			}
			drop = "no"
			if e.CanDrop {
				drop = "yes"
			}
		}
		dedup := "—"
		if len(e.Dedup) > 0 {
			dedup = "`" + strings.Join(e.Dedup, "` + `") + "`"
		}
		notes := e.Summary + " (" + e.Doc + ")."
		if e.Note != "" {
			notes += " " + e.Note
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			name, e.Kind(), descriptor, payload, fields(e.Command.Tooling(tooling.K).PayloadType()), replyType, reply,
			codes, drop, dedup, cell(notes))
	}
	return b.Bytes()
}

// descriptorName is the exported name of e's descriptor: by the command
// packages' convention, the payload type's name followed by Command, e.g.
// c2c.BeforeSendMsgCommand for c2c.BeforeSendMsg (a test checks every one
// is declared).
func descriptorName(e catalogue.Entry) string {
	return e.Area() + "." + e.Command.Tooling(tooling.K).PayloadType().Name() + "Command"
}

// fields lists the JSON fields of struct type t, nested objects in braces.
func fields(t reflect.Type) string {
	var names []string
	collect(t, &names, 0)
	return strings.Join(names, ", ")
}

func collect(t reflect.Type, names *[]string, depth int) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			collect(f.Type, names, depth)
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		*names = append(*names, "`"+tag+"`"+shape(f.Type, depth))
	}
}

// shape describes a field's type: "[]" for arrays, "{…}" for objects.
func shape(t reflect.Type, depth int) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return " (raw JSON)"
	}
	suffix := ""
	if t.Kind() == reflect.Slice {
		suffix = "[]"
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.Implements(reflect.TypeFor[json.Marshaler]()) || depth > 3 {
		return suffix
	}
	var inner []string
	collect(t, &inner, depth+1)
	return suffix + "{" + strings.Join(inner, ", ") + "}"
}

// cell escapes text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
