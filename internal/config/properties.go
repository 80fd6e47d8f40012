package config

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/knadh/koanf/v2"
	"github.com/magiconair/properties"
)

// PropertiesParser is a koanf.Parser for Java .properties files (koanf ships
// none). It keeps keys flat: load it into koanf.New("/") so that dotted EFM
// names that prefix one another (virtual.ip, virtual.ip.interface) stay
// distinct keys instead of a value and a map fighting over one node.
//
// Expansion stays off: EFM values are taken literally, and ${...} or %p in
// a script line must neither be expanded nor rejected as a circular
// reference.
type PropertiesParser struct{}

// Unmarshal parses b as a Java properties file into a flat map of strings.
func (PropertiesParser) Unmarshal(b []byte) (map[string]any, error) {
	l := &properties.Loader{Encoding: properties.UTF8, DisableExpansion: true}
	p, err := l.LoadBytes(b)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, p.Len())
	for _, k := range p.Keys() {
		v, _ := p.Get(k)
		out[k] = v
	}
	return out, nil
}

// Marshal writes m as a properties file, keys sorted, values escaped so
// that Unmarshal reads back the same strings.
func (PropertiesParser) Marshal(m map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p := properties.NewProperties()
	p.DisableExpansion = true
	for _, k := range keys {
		if _, _, err := p.Set(k, fmt.Sprint(m[k])); err != nil {
			return nil, fmt.Errorf("property %q: %w", k, err)
		}
	}
	var buf bytes.Buffer
	if _, err := p.Write(&buf, properties.UTF8); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// bytesProvider is a koanf.Provider over bytes already read, so that Load
// reads the file once and Parse can feed test data through the same path.
type bytesProvider []byte

func (b bytesProvider) ReadBytes() ([]byte, error) { return b, nil }

func (b bytesProvider) Read() (map[string]any, error) {
	return nil, fmt.Errorf("properties provider needs a parser")
}

// readRaw parses data into the flat key -> raw string map, through koanf.
func readRaw(data []byte) (map[string]string, error) {
	k := koanf.New("/")
	if err := k.Load(bytesProvider(data), PropertiesParser{}); err != nil {
		return nil, err
	}
	all := k.All()
	out := make(map[string]string, len(all))
	for key, v := range all {
		s, ok := v.(string)
		if !ok {
			// PropertiesParser only produces strings; anything else would be
			// a koanf change we want to hear about, not guess around.
			return nil, fmt.Errorf("property %q: unexpected value type %T", key, v)
		}
		out[key] = s
	}
	return out, nil
}
