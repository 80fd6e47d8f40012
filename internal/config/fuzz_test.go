package config

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse checks that Parse never panics, that whatever it accepts
// validates, and that writing the result out and parsing it again gives
// the same configuration.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"testdata/efm5-full.properties", "../../efm.properties.example"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimal))
	f.Add([]byte(minimalWitness))
	f.Add([]byte(minimal + "virtual.ip=10.0.0.100\nvirtual.ip.interface=eth0\nping.server.ip=10.0.0.100\n"))
	f.Add([]byte(minimal + "notification.text.prefix=\\ lead\\n\\tx \\u00e9\n"))
	f.Add([]byte("a=1\na/b=2\na.b=3\n=4\n\\u0041=5\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, warnings, err := Parse("efm", data)
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned both a config and an error")
			}
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error is a %T, not Errors: %v", err, err)
			}
			return
		}
		_ = warnings
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate:\n%v\ninput:\n%q", err, data)
		}
		out := c.Marshal()
		c2, _, err := Parse("efm", out)
		if err != nil {
			t.Fatalf("re-parsing the written config fails:\n%v\nwritten:\n%s", err, out)
		}
		opts := cmp.Options{cmpopts.IgnoreUnexported(Config{}), cmpopts.EquateEmpty()}
		if diff := cmp.Diff(c, c2, opts); diff != "" {
			t.Fatalf("round trip changed the config (-first +second):\n%s\nwritten:\n%s", diff, out)
		}
	})
}
