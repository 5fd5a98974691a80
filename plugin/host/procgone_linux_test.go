package host

import (
	"fmt"
	"os"
	"strings"
)

// processGone reports whether pid has exited (a zombie counts: it runs no
// code; who reaps it depends on the container's init).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}
