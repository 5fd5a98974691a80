package main

// eabHMACWarning is printed when the EAB MAC key comes on the command line,
// where every user of the host can read it (ps, /proc/<pid>/cmdline).
const eabHMACWarning = "zonecert: warning: --eab-hmac is visible to every user of this host in the process list; pass the key in the environment variable ZONECERT_EAB_HMAC instead"
