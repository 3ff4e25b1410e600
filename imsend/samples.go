package imsend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/internal/plainjson"
)

// Sample returns the catalogue's sample body of command: every documented
// field, with invented values.
func Sample(command string) ([]byte, error) {
	body, ok := catalogue.Sample(command)
	if !ok {
		return nil, noSample(command)
	}
	return body, nil
}

// noSample is the error of a command without a sample: it names the
// catalogue's command of the same spelling in another case or without
// spaces around it, else where the commands with a sample are listed.
func noSample(command string) error {
	for _, e := range catalogue.All() {
		if strings.EqualFold(e.Name(), strings.TrimSpace(command)) {
			return fmt.Errorf("imsend: no sample for %q: did you mean %s?", command, e.Name())
		}
	}
	return fmt.Errorf("imsend: no sample for %q: imsend.Commands lists the commands that have one (docs/commands.md)", command)
}

// SampleWith returns command's sample with top-level fields replaced or
// added (a nil value removes the field), its characters written as IM
// writes them ('<', '>' and '&' unescaped), e.g.
//
//	imsend.SampleWith("Group.CallbackAfterCreateTopic", map[string]any{"TopicId": "@TGS#_g@TOPIC#_t1"})
//
// A field named in another case than the sample's (GroupID for GroupId)
// is an error naming the sample's spelling: added beside it, the body
// would carry both and the payload read only one of them, perhaps the
// sample's. To send the other spelling alone, remove the sample's too
// ("GroupId": nil).
func SampleWith(command string, fields map[string]any) ([]byte, error) {
	body, err := Sample(command)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keeps 64-bit values such as EventTime exact
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("imsend: sample of %s: %w", command, err)
	}
	for k, v := range fields {
		if v == nil {
			continue
		}
		for own := range m {
			if _, named := fields[own]; !named && own != k && strings.EqualFold(own, k) {
				return nil, fmt.Errorf("imsend: SampleWith(%s): %q is the sample's %q in another case: the body would carry both, "+
					"and the payload read one of them; write %q, or remove the sample's (%q: nil) to send %q alone",
					command, k, own, own, own, k)
			}
		}
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	// '<', '>' and '&' as they are, as IM sends them and Sample has them:
	// json.Marshal would escape them (\u0026), in the sample's own fields
	// too, and a handler reading the raw body would see bytes IM never sends.
	out, err := plainjson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("imsend: sample of %s: %w", command, err)
	}
	return out, nil
}

// Commands lists the commands that have a sample: every catalogue command.
func Commands() []string {
	entries := catalogue.All()
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}
