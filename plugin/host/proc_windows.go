package host

import (
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sysProcAttr: Windows has no parent-death signal; adopt puts each plugin
// in a job object instead.
func sysProcAttr(bool) *syscall.SysProcAttr { return nil }

// hostJob is the one job object of this host process, set to kill every
// process in it when its last handle closes. Only the host holds that
// handle, so when the host exits for any reason (even TerminateProcess)
// Windows kills its plugins.
var hostJob = sync.OnceValues(newKillOnCloseJob)

func newKillOnCloseJob() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("creating job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return 0, fmt.Errorf("setting kill-on-close on job object: %w", err)
	}
	return job, nil
}

// adopt puts the started plugin process into the host's job object. The
// plugin starts outside it (os/exec cannot create a process suspended and
// resume it); until adopt runs, the SDK's parent watch covers it.
func adopt(cmd *exec.Cmd) error {
	job, err := hostJob()
	if err != nil {
		return err
	}
	return assignJob(job, cmd.Process.Pid)
}

func assignJob(job windows.Handle, pid int) error {
	// cmd.Process holds a handle on the process, so pid is not reused.
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("opening plugin process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		return fmt.Errorf("adding plugin process %d to the job object: %w", pid, err)
	}
	return nil
}
