package s3

import "net/http"

// Action names the S3 action r asks for ("PutObject", ...), or "" for a
// request the gateway would refuse before acting. The names come from a
// fixed set, never from the request, so they may label metrics
// (internal/metrics discovers this method on the handler).
func (g *Gateway) Action(r *http.Request) string {
	rt, err := parseRoute(r.Method, r.Host, r.URL.Path, r.URL.Query(), r.Header, g.cfg.BaseDomain)
	if err != nil {
		return ""
	}
	return rt.Action
}
