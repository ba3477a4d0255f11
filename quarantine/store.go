package quarantine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// copyBuffer is the buffer size for copying a message into the quarantine.
const copyBuffer = 64 << 10

// Store adds msg to the quarantine in dir, creating dir if it is missing,
// and returns the new entry's id. msg is read with ReadAt from offset 0 to
// its current size, so the caller's file offset is left alone. meta gives
// the class, detail, envelope, remote IP and version; Store sets ID and
// Size, and Time when it is zero, and stores Time in UTC.
//
// The id is the time, the process id and 32 random bits
// (1700000000.123456.4242.9f8e7d6c); the temporary entry is made with
// mkdir, which fails when the name exists, and renamed into place without
// replacing anything, so ids are unique across processes.
//
// On any failure (a full disk, missing permission) Store removes what it
// wrote and returns the error; nothing of a failed entry stays visible.
func Store(dir string, msg *os.File, meta Meta) (id string, err error) {
	fi, err := msg.Stat()
	if err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	if meta.Time.IsZero() {
		meta.Time = time.Now()
	}
	meta.Time = meta.Time.UTC()
	meta.Size = fi.Size()
	meta.Released = nil

	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	tmp := ""
	for try := 0; ; try++ {
		if id, err = newID(meta.Time); err != nil {
			return "", fmt.Errorf("quarantine: %w", err)
		}
		tmp = filepath.Join(dir, tmpPrefix+id)
		err = os.Mkdir(tmp, dirPerm)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || try == 4 {
			return "", fmt.Errorf("quarantine: %w", err)
		}
	}
	meta.ID = id
	final := filepath.Join(dir, id)
	committed := false
	defer func() {
		if err != nil {
			// Removal can fail on the same full disk only in ways
			// that leave a hidden .tmp- name, which Purge collects.
			if committed {
				os.RemoveAll(final)
			} else {
				os.RemoveAll(tmp)
			}
			id = ""
		}
	}()

	if err := os.Chmod(tmp, dirPerm); err != nil { // past the umask
		return "", fmt.Errorf("quarantine: %w", err)
	}
	if err := writeMessage(filepath.Join(tmp, MessageFile), msg, meta.Size); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	data, err := marshalMeta(meta)
	if err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	if err := writeNew(filepath.Join(tmp, MetaFile), data, -1, -1); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	if err := renameNoReplace(tmp, final); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	return id, nil
}

// newID makes an entry id from t, the process id and 32 random bits.
func newID(t time.Time) (string, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%06d.%d.%s", t.Unix(), t.Nanosecond()/1000, os.Getpid(), hex.EncodeToString(rnd[:])), nil
}

// writeMessage copies size bytes of src, from offset 0, into a new file.
func writeMessage(name string, src *os.File, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, io.NewSectionReader(src, 0, size), make([]byte, copyBuffer))
	if err == nil && n != size {
		err = fmt.Errorf("%w: copied %d of %d bytes", ErrShortCopy, n, size)
	}
	return finish(f, err)
}

// writeNew writes data to a new file (which must not exist), fsyncs it and,
// when uid is not -1, gives it that owner.
func writeNew(name string, data []byte, uid, gid int) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && uid != -1 {
		err = f.Chown(uid, gid)
	}
	return finish(f, err)
}

// finish sets the file's mode past the umask, fsyncs and closes it, and
// returns the first error, err included.
func finish(f *os.File, err error) error {
	if err == nil {
		err = f.Chmod(filePerm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func marshalMeta(m Meta) ([]byte, error) {
	if m.To == nil {
		m.To = []string{}
	}
	data, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// syncDir fsyncs a directory, so the names in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// renameNoReplace renames oldpath to newpath, failing if newpath exists.
// A plain rename(2) would replace an empty directory of that name.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		// The file system cannot do RENAME_NOREPLACE; the random
		// part of the id and the exclusive mkdir must do.
		if _, serr := os.Lstat(newpath); serr == nil {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: unix.EEXIST}
		}
		return os.Rename(oldpath, newpath)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// lockDir takes an exclusive flock(2) on the quarantine directory, which
// serialises the read-modify-write operations (the size cap, purge,
// delete, recording a release) across processes. Locking the directory
// itself needs no lock file, and a read-only descriptor is enough, so it
// works for the simscan user and root alike.
func lockDir(dir string) (unlock func(), err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return func() { unix.Close(fd) }, nil
}
