package activation

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// listening reports whether a process listens on the unix socket at path,
// by reading /proc/net/unix rather than connecting: a connection to a
// systemd socket would start the very service we are trying not to disturb.
func listening(path string) (bool, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return false, err
	}
	defer f.Close()
	return listeningIn(bufio.NewScanner(f), path)
}

// soAcceptCon is __SO_ACCEPTCON in the Flags column: a listening socket.
const soAcceptCon = 1 << 16

func listeningIn(sc *bufio.Scanner, path string) (bool, error) {
	first := true
	for sc.Scan() {
		if first { // header: Num RefCount Protocol Flags Type St Inode Path
			first = false
			continue
		}
		// The path is the last column and may itself contain spaces.
		fields := strings.SplitN(strings.Join(strings.Fields(sc.Text()), " "), " ", 8)
		if len(fields) < 8 || fields[7] != path {
			continue
		}
		flags, err := strconv.ParseUint(fields[3], 16, 32)
		if err != nil {
			return false, fmt.Errorf("parse /proc/net/unix flags %q: %w", fields[3], err)
		}
		if flags&soAcceptCon != 0 {
			return true, nil
		}
	}
	return false, sc.Err()
}
