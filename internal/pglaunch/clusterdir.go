package pglaunch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Every file operation inside Dir goes through an os.Root opened on Dir, so
// no name can lead out of it. When the caller is root, Dir belongs to the
// server user, who could plant a symbolic link (server.log -> /etc/passwd)
// or a hard link there to make root write, truncate, chmod, chown or read a
// file elsewhere. So pglaunch also refuses a symlink at a name it uses, and a
// hard link at a file it writes or reads (a hard link is the one way, without
// a symlink, for a file outside Dir to appear inside it); it checks the
// opened file against the name (same inode) so a swap between the check and
// the open is caught too, and it changes modes and owners through the open
// descriptor, never by name. A symlink swapped in at the last moment can only
// lead to another file inside Dir (os.Root sees to that), which the server
// user controls anyway.

// openRoot opens the cluster dir as an os.Root.
func openRoot(dir string) (*os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening cluster dir %s: %w", dir, err)
	}
	return root, nil
}

// checkEntry reports whether fi, the entry name in root, is something
// pglaunch may use: a directory when dir is set, else a regular file with
// one link.
func checkEntry(root *os.Root, name string, fi fs.FileInfo, dir bool) error {
	path := filepath.Join(root.Name(), name)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, which pglaunch does not follow in a cluster dir; remove it", path)
	case dir && !fi.IsDir():
		return fmt.Errorf("%s is not a directory; remove it", path)
	case !dir && !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file; remove it", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && !dir && st.Nlink != 1 {
		return fmt.Errorf("%s has %d hard links, which pglaunch does not use in a cluster dir; remove it", path, st.Nlink)
	}
	return nil
}

// checkOpened makes sure f, just opened as name in root, is that entry
// itself (not reached through a symlink swapped in after the first check)
// and passes checkEntry.
func checkOpened(root *os.Root, name string, f *os.File, dir bool) error {
	ffi, err := f.Stat()
	if err != nil {
		return err
	}
	lfi, err := root.Lstat(name)
	if err != nil {
		return err
	}
	if !os.SameFile(ffi, lfi) {
		return fmt.Errorf("%s changed while pglaunch opened it; remove it", filepath.Join(root.Name(), name))
	}
	return checkEntry(root, name, ffi, dir)
}

// openEntry opens the file name directly in root with flag (which must not
// hold O_TRUNC: truncate through the returned file), refusing symlinks, hard
// links and anything but a regular file.
func openEntry(root *os.Root, name string, flag int, perm fs.FileMode) (*os.File, error) {
	if fi, err := root.Lstat(name); err == nil {
		if err := checkEntry(root, name, fi, false); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// O_NONBLOCK: a FIFO swapped in after the check must not block the open.
	f, err := root.OpenFile(name, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	if err := checkOpened(root, name, f, false); err != nil {
		f.Close()
		return nil, err
	}
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readEntry returns up to max bytes of the file name directly in root,
// with openEntry's checks.
func readEntry(root *os.Root, name string, max int64) ([]byte, error) {
	f, err := openEntry(root, name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// makeDirEntry opens the directory name directly in root, creating it with
// perm if it does not exist; a symlink there is refused.
func makeDirEntry(root *os.Root, name string, perm fs.FileMode) (*os.File, error) {
	if err := root.Mkdir(name, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if err := checkEntry(root, name, fi, true); err != nil {
		return nil, err
	}
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	if err := checkOpened(root, name, f, true); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openSubRoot opens the directory name directly in root as a Root of its
// own, refusing a symlink there.
func openSubRoot(root *os.Root, name string) (*os.Root, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if err := checkEntry(root, name, fi, true); err != nil {
		return nil, err
	}
	sub, err := root.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	sfi, err := sub.Stat(".")
	if err == nil && !os.SameFile(sfi, fi) {
		err = fmt.Errorf("%s changed while pglaunch opened it", filepath.Join(root.Name(), name))
	}
	if err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
}
