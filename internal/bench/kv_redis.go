package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// redisBenchmark measures Redis on this machine as the issue quotes it:
// redis-benchmark with the same clients and value size, against a
// redis-server started for it on a free loopback port without
// persistence, stopped afterwards. It returns requests/s by command
// ("SET", "GET") and a note saying what ran, or why nothing did.
func redisBenchmark(ctx context.Context, o KVOptions) (map[string]redisFigure, string) {
	srvPath, err1 := exec.LookPath("redis-server")
	benchPath, err2 := exec.LookPath("redis-benchmark")
	if err1 != nil || err2 != nil {
		return nil, "not measured: redis-server and redis-benchmark are not installed (apt-get install redis-server)"
	}
	port, err := freePort()
	if err != nil {
		return nil, "not measured: " + err.Error()
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := exec.CommandContext(sctx, srvPath, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := srv.Start(); err != nil {
		return nil, "not measured: " + err.Error()
	}
	defer func() { cancel(); srv.Wait() }()
	if err := waitPort(ctx, port, 10*time.Second); err != nil {
		return nil, "not measured: redis-server did not start: " + err.Error()
	}
	n := 100000
	args := []string{"--csv", "-p", strconv.Itoa(port), "-n", strconv.Itoa(n), "-c", strconv.Itoa(o.Clients),
		"-d", strconv.Itoa(o.ValueSize), "-t", "set,get"}
	out, err := exec.CommandContext(ctx, benchPath, args...).Output()
	if err != nil {
		return nil, "not measured: redis-benchmark: " + err.Error()
	}
	figures := parseRedisBenchmark(out)
	return figures, fmt.Sprintf("redis-benchmark %s (redis-server --save '' --appendonly no: no persistence)", strings.Join(args, " "))
}

// redisFigure is one command's outcome in redis-benchmark's CSV.
type redisFigure struct {
	rps float64
	lat Latency // p50 and p99; the CSV has no p99.9
}

// parseRedisBenchmark reads --csv output (redis-benchmark 6.2 and later):
// a header, then "SET","55602.00","0.5","0.1","0.455","0.9","1.2","3.0"
// for test, rps, avg, min, p50, p95, p99, max latency (ms). Older -q
// lines ("SET: 55602.00 requests per second") are read too, without
// latencies.
func parseRedisBenchmark(out []byte) map[string]redisFigure {
	figures := map[string]redisFigure{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		if strings.HasPrefix(line, `"`) {
			f := strings.Split(strings.ReplaceAll(line, `"`, ""), ",")
			if len(f) < 2 {
				continue
			}
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				continue // the header
			}
			fig := redisFigure{rps: v}
			if len(f) >= 7 {
				fig.lat.P50, _ = strconv.ParseFloat(f[4], 64)
				fig.lat.P99, _ = strconv.ParseFloat(f[6], 64)
			}
			figures[f[0]] = fig
			continue
		}
		cmd, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != "requests" {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			figures[strings.TrimSpace(cmd)] = redisFigure{rps: v}
		}
	}
	return figures
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitPort(ctx context.Context, port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
