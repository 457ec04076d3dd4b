package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
)

// writeOutput writes a finished output to standard output ("-") or to a
// file, so that a reader never sees a partial file and nothing but the
// target changes:
//   - a regular file is replaced atomically (a temporary file in its
//     folder, renamed over it) and keeps its permissions; a new file gets
//     0644 less the umask;
//   - a symbolic link is followed: the file it names is replaced, in that
//     file's own folder;
//   - a device, FIFO or socket is written straight through, never replaced;
//   - this process's own streams, by any of their names (/dev/stdout,
//     /dev/fd/N, /proc/self/fd/N), are written through the descriptor it
//     holds: a shell's >> keeps what the file held, and a pipe works;
//   - a folder, or an input of the same command (the facts file, the
//     topology), is refused.
//
// The temporary file's name is short whatever the target's, and an
// interrupt, SIGTERM or SIGHUP removes it. (github.com/google/renameio does not
// build for Windows and names its temporary file after the target, which
// does not fit beside a 250-character name.)
func writeOutput(path string, data []byte, stdout io.Writer, inputs ...os.FileInfo) error {
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if w := processStream(path, stdout); w != nil {
		_, err := w.Write(data)
		return err
	}
	target, info, err := resolveTarget(path)
	if err != nil {
		return err
	}
	for _, input := range inputs {
		if info != nil && input != nil && os.SameFile(info, input) {
			return errInputAsOutput
		}
	}
	write := func(w io.Writer) error { _, err := w.Write(data); return err }
	switch {
	case info == nil:
		return replaceFile(target, nil, write)
	case info.IsDir():
		return errors.New("is a folder; give a file name")
	case !info.Mode().IsRegular():
		return writeThrough(target, data)
	default:
		return replaceFile(target, info, write)
	}
}

// errInputAsOutput is an output that would overwrite an input: bad flags,
// as batch's inventory among its outputs is.
var errInputAsOutput = errors.New("is an input of this command (the facts file or the topology); give another file")

// streamName matches the names of a process's open descriptors.
var streamName = regexp.MustCompile(`^/(?:dev/(?:stdout|stderr|fd/([0-9]+))|proc/self/fd/([0-9]+))$`)

// processStream is the writer of a path that names one of this process's
// open descriptors, or nil. Opening such a name anew would open the file
// behind it again, truncated, or fail for a pipe; writing through the
// descriptor appends where the shell opened it with >>.
func processStream(path string, stdout io.Writer) io.Writer {
	m := streamName.FindStringSubmatch(path)
	if m == nil {
		return nil
	}
	fd := m[1] + m[2]
	switch {
	case path == "/dev/stdout" || fd == "1":
		return stdout
	case path == "/dev/stderr" || fd == "2":
		return os.Stderr
	}
	n, err := strconv.Atoi(fd)
	if err != nil || n < 0 {
		return nil
	}
	return os.NewFile(uintptr(n), path)
}

// resolveTarget follows symbolic links to the file that will be written.
// info is nil when no such file exists yet; a link may name a file to
// create, as a shell's > would.
func resolveTarget(path string) (string, fs.FileInfo, error) {
	for range 40 {
		info, err := os.Lstat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if _, err := os.Stat(filepath.Dir(path)); err != nil {
				return "", nil, fmt.Errorf("the folder %s does not exist", filepath.Dir(path))
			}
			return path, nil, nil
		case err != nil:
			return "", nil, err
		case info.Mode()&fs.ModeSymlink == 0:
			return path, info, nil
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", nil, err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", nil, errors.New("has too many levels of symbolic links")
}

// writeThrough writes to a device, FIFO or socket as it is.
func writeThrough(target string, data []byte) error {
	f, err := os.OpenFile(target, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// replaceFile writes a temporary file beside target with write, then
// renames it over target. It gets the permissions and owner of like, the
// file it replaces, or, for a new file, 0644 less the umask.
func replaceFile(target string, like fs.FileInfo, write func(io.Writer) error) (err error) {
	// An error names the target and its cause, not the temporary file.
	defer func() {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("writing %s: %w", target, pe.Err)
		}
	}()
	perm := fs.FileMode(0o644)
	if like != nil {
		perm = like.Mode().Perm()
	}
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(target), ".sfbpatch-"+hex.EncodeToString(suffix)+".tmp")
	// The handler comes first: no signal may fall between the file's
	// creation and its handler.
	stop := onSignal(func() { os.Remove(tmp) })
	defer stop()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("cannot create a file in the folder %s (a temporary file is written there, then renamed over the output): permission denied", filepath.Dir(target))
	}
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op after the rename
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if like != nil {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return err
		}
		if err := keepOwner(f, like); err != nil {
			f.Close()
			return fmt.Errorf("cannot keep the owner of %s: %w", target, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, target)
}

// The cleanups to run when a signal ends sfbpatch, by registration.
var (
	cleanupMu   sync.Mutex
	cleanups    = map[int]func(){}
	nextCleanup int
	signals     chan os.Signal
)

// onSignal registers cleanup until stop is called: an interrupt, SIGTERM
// or SIGHUP runs every registered cleanup, then ends sfbpatch with 128
// plus the signal's number, as shells report a process a signal ended.
func onSignal(cleanup func()) (stop func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	if signals == nil {
		signals = make(chan os.Signal, 1)
		signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			s := <-signals
			cleanupMu.Lock() // held until the exit: nothing registers or stops meanwhile
			for _, c := range cleanups {
				c()
			}
			code := 128 + 2
			if n, ok := s.(syscall.Signal); ok {
				code = 128 + int(n)
			}
			os.Exit(code)
		}()
	}
	id := nextCleanup
	nextCleanup++
	cleanups[id] = cleanup
	return func() {
		cleanupMu.Lock()
		delete(cleanups, id)
		cleanupMu.Unlock()
	}
}
