package rules

import (
	"slices"

	"github.com/gosimscan/simscan/control/cdb"
)

// The keys of simversions.cdb, which simscanmk -g builds and simscan reads
// for the "scanners:" part of its Received header, e.g.
//
//	attach: 1.0.6 clamav: 0.80/m:27/d:556 trophie: 7.000-1011/218/74141 spam: 2.63
const (
	VersionAttach  = "attach"
	VersionClamAV  = "clamav"
	VersionTrophie = "trophie"
	VersionSpam    = "spam"
	VersionRegex   = "regex"
)

// versionOrder is the order simscanmk -g has always written the keys in.
var versionOrder = []string{VersionAttach, VersionRegex, VersionTrophie, VersionSpam, VersionClamAV}

// ReadVersions reads a simversions.cdb. If a key is there twice the first
// record counts. A missing file gives an error wrapping fs.ErrNotExist.
func ReadVersions(path string) (map[string]string, error) {
	r, err := cdb.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	versions := map[string]string{}
	for rec, err := range r.All() {
		if err != nil {
			return nil, err
		}
		if _, dup := versions[string(rec.Key)]; !dup {
			versions[string(rec.Key)] = string(rec.Value)
		}
	}
	return versions, nil
}

// WriteVersions replaces the simversions.cdb at path atomically (see
// cdb.WriteFileAtomic) with mode 0644. The known keys are written in the
// order the C simscanmk used, any others after them in sorted order.
func WriteVersions(path string, versions map[string]string) error {
	keys := make([]string, 0, len(versions))
	for k := range versions {
		if !slices.Contains(versionOrder, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var known []string
	for _, k := range versionOrder {
		if _, ok := versions[k]; ok {
			known = append(known, k)
		}
	}
	keys = append(known, keys...)
	return cdb.WriteFileAtomic(path, 0o644, func(w *cdb.Writer) error {
		for _, k := range keys {
			if err := w.Put([]byte(k), []byte(versions[k])); err != nil {
				return err
			}
		}
		return nil
	})
}
