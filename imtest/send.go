package imtest

import "github.com/imcallback/imcallback/imsend"

// The sending side of the kit lives in package imsend, which the binary
// uses without linking test code; these names keep imtest one import for
// tests.
type (
	// Sender is imsend.Sender.
	Sender = imsend.Sender
	// Option is imsend.Option.
	Option = imsend.Option
	// Result is imsend.Result.
	Result = imsend.Result
	// Call is imsend.Call.
	Call = imsend.Call
	// Load is imsend.Load.
	Load = imsend.Load
	// LoadReport is imsend.LoadReport.
	LoadReport = imsend.LoadReport
)

// MaxBatch is imsend.MaxBatch.
const MaxBatch = imsend.MaxBatch

// Options and helpers of imsend.
var (
	At           = imsend.At
	Late         = imsend.Late
	Unsigned     = imsend.Unsigned
	WithAppID    = imsend.WithAppID
	WithPlatform = imsend.WithPlatform
	WithHeader   = imsend.WithHeader
	WithMethod   = imsend.WithMethod
	WithPeer     = imsend.WithPeer
	BatchBody    = imsend.BatchBody
	Sample       = imsend.Sample
	SampleWith   = imsend.SampleWith
	Commands     = imsend.Commands
	NewClient    = imsend.NewClient
)
