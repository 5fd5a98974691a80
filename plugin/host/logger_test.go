package host

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// go-plugin's Info housekeeping drops to Debug; its "plugin" key does not
// repeat ours; the logger it names for the plugin's stderr is off (the
// stderrSink logs those lines).
func TestHCLogAdapter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("plugin", "demo")
	l := &hclogSlog{l: base, name: "demo"}
	l.Info("plugin process exited", "plugin", "/bin/zonecert-dns-demo", "id", 7)
	l.Named("zonecert-dns-demo").Info("record added", "fqdn", "a.example.")
	var recs []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records: %s", len(recs), buf.String())
	}
	if recs[0]["level"] != "DEBUG" || recs[0]["binary"] != "/bin/zonecert-dns-demo" || recs[0]["plugin"] != "demo" {
		t.Errorf("go-plugin housekeeping = %v; want DEBUG with plugin=demo binary=path", recs[0])
	}
	if l := l.Named("zonecert-dns-demo"); l.GetLevel() != hclog.Off {
		t.Errorf("the plugin's named logger is on: go-plugin would parse its lines")
	}
}
