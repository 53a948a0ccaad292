// Command estest-server serves the estest Elasticsearch 8 wire-protocol test
// double over HTTP. It is NOT Elasticsearch.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/transitdb/transit/internal/estest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9200", "listen address")
	nrt := flag.Bool("nrt", false, "near-real-time mode: search/count see only refreshed writes")
	gc := flag.Duration("gc-deletes", 60*time.Second, "lifetime of external-version delete tombstones (index.gc_deletes)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `estest-server: a TEST DOUBLE of the Elasticsearch 8 REST API, not Elasticsearch.

It keeps everything in memory, implements only the subset transit's tests need
(see internal/estest/README.md), and must never be used to store real data.

Usage: estest-server [flags]
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	srv := estest.New(estest.Options{NRT: *nrt, GCDeletes: *gc})
	fmt.Fprintf(os.Stderr, "estest-server (test double, not Elasticsearch) listening on http://%s\n", *addr)
	hs := &http.Server{Addr: *addr, Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.ListenAndServe())
}
