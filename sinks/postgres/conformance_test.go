package postgres

import (
	"testing"

	"github.com/transitdb/transit/sinks"
	"github.com/transitdb/transit/sinks/sinktest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	var s *Sink
	sinktest.Exercise(t, sinktest.Harness{
		Name: "postgres",
		Open: func(t *testing.T) sinks.Sink {
			s = openTestSink(t)
			return s
		},
		Read: func(t *testing.T, table string) [][]any {
			return readText(t, s.Pool(), s.Schema(), table)
		},
	})
}
