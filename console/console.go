// Package console is the web console of the admin listener: one page
// (GET /) with its stylesheet and script (GET /static/…), embedded in the
// binary, that reads the admin API from the browser: callback rates from
// /v1/series, the live list of /v1/recent, the event log, dead letters and
// their replay, topics, and the delivery state with pause and resume.
//
// Everything is plain HTML, CSS and JavaScript committed under static/:
// no build step, nothing loaded from the network. Every answer carries a
// strict Content-Security-Policy (no inline script or style, connections
// to the admin listener only) and Cache-Control: no-cache (the files hold
// none of the service's data; the admin API's answers are no-store), and
// the script renders what a callback carried as text only, so a hostile
// payload shows as characters.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/admin"
)

// Module adds the console's routes to the admin listener.
var Module = fx.Module("console", fx.Provide(admin.AsRoutes(Routes)))

//go:embed static
var embedded embed.FS

// static is the embedded static/ folder.
var static = func() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // the folder is embedded at build time
	}
	return sub
}()

// ContentSecurityPolicy is sent with every console answer: scripts,
// styles and connections from the admin listener only, no inline script
// or style, no framing; no <base> and no form submission either (neither
// falls back to default-src: the page's forms are handled by the script).
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// contentTypes are the types of the console's files, by extension (not
// the host's MIME table, so the answer is the same on every machine).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

// Routes are the console's admin routes: GET / (the page) and
// GET /static/* (its assets).
func Routes() []admin.Route {
	return []admin.Route{
		{Method: http.MethodGet, Path: "/", Open: true, Handler: func(c echo.Context) error { return serve(c, "index.html") }},
		{Method: http.MethodGet, Path: "/static/*", Open: true, Handler: func(c echo.Context) error {
			name := c.Param("*")
			if name == "index.html" {
				return echo.NewHTTPError(http.StatusNotFound, "not found")
			}
			return serve(c, name)
		}},
	}
}

// serve answers one embedded file, or 404.
func serve(c echo.Context, name string) error {
	if !fs.ValidPath(name) || strings.HasPrefix(path.Base(name), ".") {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	body, err := fs.ReadFile(static, name)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok {
		ctype = "application/octet-stream"
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	return c.Blob(http.StatusOK, ctype, body)
}
