package server

import (
	"net/http"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// TestOtherMethodsAreAnswered405AllowingPOST: every method but POST on
// the callback path is answered 405 with Allow: POST, the one method the
// path accepts (RFC 9110 §15.5.6). The router's Allow listed OPTIONS too,
// which the path answers 405 as well, and OPTIONS's own 405 had no Allow.
func TestOtherMethodsAreAnswered405AllowingPOST(t *testing.T) {
	addr := startPublic(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, "PROPFIND"} {
		t.Run(method, func(t *testing.T) {
			req, err := http.NewRequest(method, "http://"+addr+config.Default().Path+"?SdkAppid=1400000000", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405", resp.StatusCode)
			}
			if got := resp.Header.Values("Allow"); len(got) != 1 || got[0] != http.MethodPost {
				t.Fatalf("Allow %q, want %q", got, http.MethodPost)
			}
		})
	}
}
