package store

import (
	"bufio"
	"fmt"
	"github.com/hermes-gateway/hermes/pkg/shell"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockedError means another process holds the store's lock: another
// hermes-gateway is running (or a `hermes` command that opened the store).
type LockedError struct {
	Path string
	Pid  int // 0 when /proc/locks did not tell
}

func (e *LockedError) Error() string {
	if e.Pid > 0 {
		return fmt.Sprintf("another hermes-gateway is running (pid %d)", e.Pid)
	}
	return fmt.Sprintf("another hermes-gateway holds %s", e.Path)
}

// CorruptError means the store's file is damaged. Nothing in it can be
// trusted, and the gateway can run without it (it only loses state), so the
// advice is to move it aside, keeping it for inspection, and start again.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	broken := e.Path + ".broken-" + time.Now().Format("2006-01-02")
	return fmt.Sprintf("state file %s is damaged (%v); move it aside with `mv %s %s` and start again: the gateway begins with an empty store and the broken file is kept",
		e.Path, e.Err, shell.Quote(e.Path), shell.Quote(broken))
}

func (e *CorruptError) Unwrap() error { return e.Err }

// lockHolder finds the pid holding a flock on path, from /proc/locks, or 0.
// Lines look like
//
//	1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF
//
// with the device as hex major:minor and the inode in decimal. Some file
// systems (overlayfs, btrfs subvolumes) report a device there that differs
// from stat's, so an inode match alone is accepted when it is unambiguous.
func lockHolder(path string) int {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseLocks(bufio.NewScanner(f), devMajor(uint64(st.Dev)), devMinor(uint64(st.Dev)), uint64(st.Ino))
}

func parseLocks(sc *bufio.Scanner, major, minor, ino uint64) int {
	inodeOnly := map[int]bool{}
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// "N:" "FLOCK" "ADVISORY" "WRITE" pid dev:ino start end; a
		// blocked waiter's line has "->" after the number.
		if len(fields) > 1 && fields[1] == "->" {
			continue
		}
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil || pid <= 0 {
			continue
		}
		parts := strings.Split(fields[5], ":")
		if len(parts) != 3 {
			continue
		}
		maj, err1 := strconv.ParseUint(parts[0], 16, 64)
		min, err2 := strconv.ParseUint(parts[1], 16, 64)
		in, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || in != ino {
			continue
		}
		if maj == major && min == minor {
			return pid
		}
		inodeOnly[pid] = true
	}
	if len(inodeOnly) == 1 {
		for pid := range inodeOnly {
			return pid
		}
	}
	return 0
}

// devMajor and devMinor decode Linux's dev_t as glibc's major()/minor() do.
func devMajor(dev uint64) uint64 { return (dev>>8)&0xfff | (dev>>32)&0xfffff000 }
func devMinor(dev uint64) uint64 { return dev&0xff | (dev>>12)&0xffffff00 }
