// Command release writes a release of sfbpatch into a folder: an offline
// source bundle of the committed tree with its vendored modules, the
// binaries of every target built from that bundle alone (no network, an
// empty module cache), and SHA256SUMS over them. The same commit gives the
// same bytes; -check builds the release twice and compares them.
//
//	go run ./cmd/release [-o dist] [-check] [-sign-cert cert.pem -sign-key key.pem [-timestamp URL]]
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sfbpatch/sfbpatch/generator"
)

// targets are the platforms a release has a binary for: Windows, where
// administrators work, and the build and jump hosts beside it.
var targets = []struct{ goos, goarch string }{
	{"windows", "amd64"}, {"windows", "arm64"}, {"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "arm64"},
}

// options are the flags.
type options struct {
	out, signCert, signKey, timestamp string
	check                             bool
}

func main() {
	var o options
	flag.StringVar(&o.out, "o", "dist", "the folder to write the release to; it must not exist or be empty")
	flag.BoolVar(&o.check, "check", false, "build the release twice, in temporary folders, and compare every byte; also write it to -o")
	flag.StringVar(&o.signCert, "sign-cert", "", "sign the Windows binaries with osslsigncode: the code-signing certificate (PEM)")
	flag.StringVar(&o.signKey, "sign-key", "", "with -sign-cert: its private key (PEM)")
	flag.StringVar(&o.timestamp, "timestamp", "", "with -sign-cert: an RFC 3161 timestamp server URL")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(o options, log io.Writer) error {
	if (o.signCert == "") != (o.signKey == "") {
		return errors.New("-sign-cert and -sign-key: give both or neither")
	}
	if entries, err := os.ReadDir(o.out); err == nil && len(entries) > 0 {
		return fmt.Errorf("-o %s: the folder holds files; give a new or empty one", o.out)
	}
	root, err := gitOutput("", "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	if status, _ := gitOutput(root, "status", "--porcelain"); status != "" {
		fmt.Fprintln(log, "note: the tree has uncommitted changes; the release is of the last commit, without them")
	}
	if o.check {
		first, err := buildRelease(root, "")
		if err != nil {
			return err
		}
		defer os.RemoveAll(first)
		second, err := buildRelease(root, "")
		if err != nil {
			return err
		}
		defer os.RemoveAll(second)
		if err := sameFiles(first, second); err != nil {
			return fmt.Errorf("two builds of the same commit differ: %w", err)
		}
		fmt.Fprintln(log, "check: two builds of the same commit are byte for byte the same")
	}
	dir, err := buildRelease(root, "")
	if err != nil {
		return err
	}
	if o.signCert != "" {
		if err := sign(dir, o, log); err != nil {
			os.RemoveAll(dir)
			return err
		}
	}
	if err := writeSums(dir); err != nil {
		os.RemoveAll(dir)
		return err
	}
	os.Remove(o.out) // an empty folder only
	if err := os.Rename(dir, o.out); err != nil {
		return copyDir(dir, o.out)
	}
	sums, err := os.ReadFile(filepath.Join(o.out, "SHA256SUMS"))
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "release %s written to %s:\n%s", generator.Version, o.out, sums)
	return nil
}

// buildRelease makes the release of the last commit in a new temporary folder
// and returns it: the source bundle, then each target's binary built from
// the bundle offline. SHA256SUMS is written by the caller.
func buildRelease(root, tmp string) (string, error) {
	dir, err := os.MkdirTemp(tmp, "sfbpatch-release-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(dir)
		return "", err
	}
	commit, err := gitOutput(root, "rev-parse", "HEAD")
	if err != nil {
		return fail(err)
	}
	seconds, err := gitOutput(root, "log", "-1", "--format=%ct")
	if err != nil {
		return fail(err)
	}
	unix, err := strconv.ParseInt(seconds, 10, 64)
	if err != nil {
		return fail(fmt.Errorf("git log: commit time %q: %w", seconds, err))
	}
	name := "sfbpatch-" + generator.Version
	src, err := os.MkdirTemp(tmp, "sfbpatch-source-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(src)
	tree := filepath.Join(src, name)
	if err := sourceTree(root, tree); err != nil {
		return fail(err)
	}
	bundle := filepath.Join(dir, name+"-src.tar.gz")
	if err := writeBundle(bundle, src, name, time.Unix(unix, 0).UTC()); err != nil {
		return fail(err)
	}
	if err := buildBinaries(tree, dir, commit); err != nil {
		return fail(err)
	}
	return dir, nil
}

// sourceTree writes the last commit's files to tree, with vendor/ made by
// go mod vendor: what builds with no network.
func sourceTree(root, tree string) error {
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "-C", root, "archive", "--format=tar", "HEAD")
	extract := exec.Command("tar", "-x", "-C", tree)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	extract.Stdin = pipe
	var stderr bytes.Buffer
	archive.Stderr, extract.Stderr = &stderr, &stderr
	if err := extract.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive: %w: %s", err, stderr.String())
	}
	if err := extract.Wait(); err != nil {
		return fmt.Errorf("tar: %w: %s", err, stderr.String())
	}
	vendor := exec.Command("go", "mod", "vendor")
	vendor.Dir = tree
	vendor.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := vendor.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod vendor: %w: %s", err, out)
	}
	return nil
}

// writeBundle writes the folder name under src as a gzip-compressed tar:
// entries in name order, every time the commit's, owner 0, modes 0644 or
// 0755, and no name or time in the gzip header, so that the same commit
// gives the same bytes.
func writeBundle(path, src, name string, when time.Time) error {
	var paths []string
	err := filepath.WalkDir(filepath.Join(src, name), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(paths)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, p := range paths {
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: when, Mode: 0o644, Format: tar.FormatPAX}
		switch {
		case info.IsDir():
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
		case info.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
			if info.Mode()&0o111 != 0 {
				h.Mode = 0o755
			}
		default:
			return fmt.Errorf("%s: neither a file nor a folder", rel)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// buildBinaries builds every target from the source tree with no network
// and an empty module cache (vendor/ only), reproducibly: -trimpath, no
// build ID, no cgo, the commit stamped from git.
func buildBinaries(tree, dir, commit string) error {
	cache, err := os.MkdirTemp("", "sfbpatch-empty-modcache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	for _, t := range targets {
		out := filepath.Join(dir, binaryName(t.goos, t.goarch))
		build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-mod=vendor",
			"-ldflags=-buildid= -X main.releaseCommit="+commit, "-o", out, "./cmd/sfbpatch")
		build.Dir = tree
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.goos, "GOARCH="+t.goarch, "GOFLAGS=", "GOPROXY=off",
			"GOMODCACHE="+cache, "GOWORK=off", "GOTOOLCHAIN=local")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s/%s from the source bundle, offline: %w: %s", t.goos, t.goarch, err, out)
		}
	}
	return nil
}

// binaryName is a target's file name in the release.
func binaryName(goos, goarch string) string {
	name := "sfbpatch-" + generator.Version + "-" + goos + "-" + goarch
	if goos == "windows" {
		name += ".exe"
	}
	return name
}

// sign signs the Windows binaries with osslsigncode and shows its
// verification. A signature with a timestamp differs from run to run.
func sign(dir string, o options, log io.Writer) error {
	for _, t := range targets {
		if t.goos != "windows" {
			continue
		}
		path := filepath.Join(dir, binaryName(t.goos, t.goarch))
		args := []string{"sign", "-certs", o.signCert, "-key", o.signKey, "-h", "sha256", "-in", path, "-out", path + ".signed"}
		if o.timestamp != "" {
			args = append(args, "-ts", o.timestamp)
		}
		if out, err := exec.Command("osslsigncode", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("osslsigncode sign %s: %w: %s", path, err, out)
		}
		if err := os.Rename(path+".signed", path); err != nil {
			return err
		}
		out, err := exec.Command("osslsigncode", "verify", "-in", path).CombinedOutput()
		fmt.Fprintf(log, "osslsigncode verify %s:\n%s", filepath.Base(path), out)
		if err != nil {
			return fmt.Errorf("osslsigncode verify %s: %w", path, err)
		}
	}
	return nil
}

// writeSums writes SHA256SUMS over every file of dir, in name order, as
// sha256sum -c and sfbpatch verify read it.
func writeSums(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var sums strings.Builder
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(data), e.Name())
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
}

// sameFiles compares two release folders file by file.
func sameFiles(a, b string) error {
	ea, err := os.ReadDir(a)
	if err != nil {
		return err
	}
	eb, err := os.ReadDir(b)
	if err != nil {
		return err
	}
	if len(ea) != len(eb) {
		return fmt.Errorf("%d files against %d", len(ea), len(eb))
	}
	for i := range ea {
		if ea[i].Name() != eb[i].Name() {
			return fmt.Errorf("%s against %s", ea[i].Name(), eb[i].Name())
		}
		x, err := os.ReadFile(filepath.Join(a, ea[i].Name()))
		if err != nil {
			return err
		}
		y, err := os.ReadFile(filepath.Join(b, eb[i].Name()))
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			return fmt.Errorf("%s differs", ea[i].Name())
		}
	}
	return nil
}

// copyDir moves a release across file systems, where rename cannot.
func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return os.RemoveAll(from)
}

// gitOutput runs git in dir and returns its output without the final
// newline.
func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}
