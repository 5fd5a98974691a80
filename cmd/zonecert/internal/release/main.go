// Command release packs a staged directory into a reproducible release
// archive for make dist: entries sorted by name, every mtime the commit
// time, owner root:root (0:0), modes 0755 for executables and directories
// and 0644 for the rest, no gzip name or time. Two runs over the same
// files give the same bytes, so SHA256SUMS can be checked by rebuilding.
//
//	release -mtime UNIX -o OUT.tar.gz|OUT.zip -C DIR NAME
//
// packs DIR/NAME as NAME/... into OUT (.zip for Windows, .tar.gz else).
package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/flate"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

func main() {
	mtime := flag.Int64("mtime", 0, "entry modification time (Unix seconds; the commit time)")
	out := flag.String("o", "", "archive to write: .tar.gz or .zip")
	dir := flag.String("C", ".", "directory holding NAME")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: release -mtime UNIX -o OUT.tar.gz|OUT.zip -C DIR NAME")
		os.Exit(2)
	}
	if err := pack(*out, os.DirFS(*dir), flag.Arg(0), time.Unix(*mtime, 0).UTC()); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// entry is one file or directory of the archive.
type entry struct {
	name string // slash-separated, under the top directory
	dir  bool
	exec bool
}

func pack(out string, fsys fs.FS, top string, mtime time.Time) (err error) {
	var entries []entry
	err = fs.WalkDir(fsys, top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		entries = append(entries, entry{name: p, dir: d.IsDir(), exec: info.Mode()&0o111 != 0})
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(out)
		}
	}()
	w := bufio.NewWriter(f)
	switch {
	case strings.HasSuffix(out, ".zip"):
		err = writeZip(w, fsys, entries, mtime)
	case strings.HasSuffix(out, ".tar.gz"):
		err = writeTarGz(w, fsys, entries, mtime)
	default:
		return errors.New("output must end in .tar.gz or .zip")
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

func mode(e entry) int64 {
	if e.dir || e.exec {
		return 0o755
	}
	return 0o644
}

func writeTarGz(w io.Writer, fsys fs.FS, entries []entry, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	// gzip.Header stays zero: no file name, no time, OS "unknown".
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: mode(e), ModTime: mtime,
			Uid: 0, Gid: 0, Uname: "root", Gname: "root",
			Format: tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		data, err := fs.ReadFile(fsys, e.name)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, fsys fs.FS, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
		m := fs.FileMode(mode(e))
		if e.dir {
			h.Name, h.Method, m = path.Clean(e.name)+"/", zip.Store, m|fs.ModeDir
		}
		h.SetMode(m)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if e.dir {
			continue
		}
		data, err := fs.ReadFile(fsys, e.name)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}
