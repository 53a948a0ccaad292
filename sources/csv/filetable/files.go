package filetable

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ListFiles returns path itself when it is a file, or the files in the folder
// path whose names end in one of exts (any case), sorted.
func ListFiles(path string, exts ...string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		for _, x := range exts {
			if strings.EqualFold(filepath.Ext(e.Name()), x) {
				out = append(out, filepath.Join(path, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
