// Package e2e_test runs the real imcallback binary: the crash test and the
// HTTP load benchmark. It builds the binary with CGO_ENABLED=0, as shipped.
package e2e_test
