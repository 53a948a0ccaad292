package record

import (
	"reflect"
	"testing"
	"time"
)

func TestKeyRoundTrip(t *testing.T) {
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	cases := []Key{
		nil,
		{int64(1)},
		{int64(-9223372036854775808), "a:b,\"c\"", uint64(18446744073709551615)},
		{ts, 1.5, true, []byte{0, 1, 255}, nil},
	}
	for _, k := range cases {
		b, err := EncodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeKey(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, k) {
			t.Errorf("round trip %v: got %v (%s)", k, got, b)
		}
	}
	if _, err := DecodeKey([]byte(`["q:1"]`)); err == nil {
		t.Error("unknown tag accepted")
	}
}
