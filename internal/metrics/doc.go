// Package metrics instruments a Shoal process's requests: it owns the
// Prometheus registry of one process (a Set), the gRPC interceptors and
// the HTTP middleware that time every request, count its bytes and write
// its one request-log line, the wrapper that times a process's block
// store calls (Set.Store), and the collectors that read counters the
// libraries already keep (the engines' kv.Stats, data.Layer.Stats, meta
// usage and sessions) at scrape time. docs/metrics.md lists every metric.
//
// Invariants:
//   - Every metric is named shoal_<what>_<unit>; the names and label sets
//     are stable (dashboards and alerts query them).
//   - No label value comes from a request's path, key, bucket or any other
//     user input: labels are gRPC method names (the server's registered
//     set), S3 action names, block and store operation names, status
//     codes and outcomes, surface names, store kinds, engine kinds (the
//     implementing package's name), cache tiers and filesystem names (the
//     registry's, bounded by the operator), and for the agent its opcode
//     table's names, errno names (AgentOutcome) and handle kinds.
//     A request the classifiers do not recognise is labelled "other".
//   - Counting happens once: the request middleware counts requests and
//     bytes; collectors read the libraries' own counters, never a second
//     count of the same thing.
//   - A Set is per process (per Server in tests), never the global
//     prometheus registry, so several servers in one process do not clash.
//
// The agent has no listener of its own kind here: internal/agent's
// dispatcher reports each request with AgentBegin and AgentDone, and its
// state through AgentCollector.
//
// Request ids: a gRPC call made in a session with a request id (the
// shoal-session and shoal-request metadata the client sends for
// deduplication) is logged as "<session>.<request>", the id the client
// also knows; any other call gets a process-unique id. It is returned in
// the shoal-request-id response header. An S3 request is logged with the
// x-amz-request-id the gateway answered with; a block request gets one in
// X-Request-Id.
//
// Log levels: one line per request, Info for a mutation, Debug for a read
// (a gRPC call that changes nothing, an S3 GET/HEAD, a block GET/HEAD),
// Warn for any request slower than Options.SlowRequest, with its timing.
package metrics
