// A Go service for cryo's round trip: an HTTP server on 127.0.0.1 (net/http, goroutine per
// connection, the runtime's epoll netpoller) and goroutines busy during a dump: a producer and a
// consumer passing 1, 2, 3, ... through a channel, a ticker, and a spinner. GET /state answers
// JSON: pid, produced, consumed, ticks, errors (numbers taken out of order), goroutines.
// Writes "READY port=N" to the file named by its argument.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

var produced, consumed, ticks, errs, spins atomic.Int64

func main() {
	ch := make(chan int64, 64)
	go func() {
		for {
			ch <- produced.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	go func() {
		want := int64(1)
		for v := range ch {
			if v != want {
				errs.Add(1)
			}
			want = v + 1
			consumed.Add(1)
		}
	}()
	go func() {
		for range time.Tick(20 * time.Millisecond) {
			ticks.Add(1)
		}
	}()
	go func() {
		for {
			x := 0
			for i := 0; i < 1000000; i++ {
				x += i
			}
			if x < 0 {
				errs.Add(1)
			}
			spins.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	http.HandleFunc("/state", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int64{
			"pid": int64(os.Getpid()), "produced": produced.Load(), "consumed": consumed.Load(),
			"ticks": ticks.Load(), "spins": spins.Load(), "errors": errs.Load(), "goroutines": int64(runtime.NumGoroutine()),
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[1], []byte(fmt.Sprintf("READY port=%d\n", ln.Addr().(*net.TCPAddr).Port)), 0o600); err != nil {
		panic(err)
	}
	srv := &http.Server{}
	srv.SetKeepAlivesEnabled(false)
	panic(srv.Serve(ln))
}
