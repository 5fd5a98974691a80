//go:build !unix

package main

import "os/exec"

// killGroup keeps os/exec's default: only the program itself is killed.
func killGroup(*exec.Cmd) {}

func textBusy(error) bool { return false }
