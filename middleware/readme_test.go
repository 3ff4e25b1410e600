package middleware_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// TestREADMEMiddlewareRefusals: the README's paragraph on a middleware of
// your own names the code of every echo status the error handler answers
// with a code of its own, and says that any other status is 500 internal.
// It once named only 401, 403 and 429, after 400 had become 40005.
func TestREADMEMiddlewareRefusals(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, para, ok := strings.Cut(string(b), "\n**Middleware** of your own")
	if !ok {
		t.Fatal("README.md has no paragraph starting **Middleware** of your own")
	}
	para, _, _ = strings.Cut(para, "```")
	para = strings.Join(strings.Fields(para), " ")
	if !strings.Contains(para, "500 `internal`") {
		t.Errorf("README.md's Middleware paragraph does not say that another status is answered 500 `internal`:\n%s", para)
	}
	var missing []string
	for status := 400; status < 600; status++ {
		pe := middleware.AsProtocolError(echo.NewHTTPError(status))
		if pe == protocol.ErrInternal {
			continue
		}
		if code := strconv.Itoa(pe.Code); !strings.Contains(para, code) {
			missing = append(missing, fmt.Sprintf("echo's %d (%s) is answered %s %s", status, http.StatusText(status), code, pe.Reason))
		}
	}
	if len(missing) > 0 {
		t.Errorf("README.md's Middleware paragraph does not say that\n\t%s\nit reads:\n%s", strings.Join(missing, "\n\t"), para)
	}
}
