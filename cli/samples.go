package cli

import "github.com/imcallback/imcallback/imsend"

// catalogueSamples serves `send --sample` and `send --list` from the command catalogue.
type catalogueSamples struct{}

func (catalogueSamples) Sample(command string) ([]byte, bool) {
	body, err := imsend.Sample(command)
	return body, err == nil
}

func (catalogueSamples) Commands() []string { return imsend.Commands() }
