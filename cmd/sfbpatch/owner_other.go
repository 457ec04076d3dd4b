//go:build !unix

package main

import (
	"io/fs"
	"os"
)

// keepOwner does nothing where files have no Unix owner: a file replaced
// on Windows gets the folder's inherited permissions.
func keepOwner(*os.File, fs.FileInfo) error { return nil }

// umask is none where files have no Unix mode.
func umask() fs.FileMode { return 0 }
