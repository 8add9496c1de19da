// Package exitstatus names and explains the exit statuses a person sees in
// `hermes gateway status`, `doctor`, the failure alert and a failed start:
// the gateway's own (0, 75, 78) and systemd's (200–244), which systemd
// reports when it could not even run the gateway (the process never reached
// main, so the gateway's journal is empty and only the manager's lines say
// why).
//
// The names are systemd's own (`systemd-analyze exit-status`, systemd.exec(5)
// "Process Exit Codes"); the causes and fixes are about this unit set.
package exitstatus

import (
	"fmt"
	"strconv"
)

// Status explains one exit status.
type Status struct {
	Code int
	// Name is systemd's name (NAMESPACE, CAPABILITIES, …) or the BSD one
	// (TEMPFAIL, CONFIG) for the gateway's own codes.
	Name string
	// Cause says in one sentence what happened.
	Cause string
	// Fix says what to do next; "" when nothing needs doing.
	Fix string
	// Sandbox is true when systemd failed while setting up the unit's
	// sandbox (namespaces, capabilities, seccomp): the unit as rendered
	// cannot run on this system, and restarting will not change that.
	Sandbox bool
	// Planned is true for a clean stop or a planned restart: not a crash.
	Planned bool
}

// String is "226/NAMESPACE", as systemctl prints it.
func (s Status) String() string {
	if s.Name == "" {
		return strconv.Itoa(s.Code)
	}
	return fmt.Sprintf("%d/%s", s.Code, s.Name)
}

// Systemd reports whether the code is in the range systemd reserves for
// itself (systemd.exec(5): 200 and above): the unit's command never ran.
func Systemd(code int) bool { return code >= 200 && code <= 255 }

// sandboxFix is the fix for a sandbox step that this system cannot do. A
// user manager builds the namespaces and drops capabilities inside a user
// namespace of its own (PrivateUsers=yes); where unprivileged user
// namespaces are switched off it can do neither.
const sandboxFix = "this system does not let your user manager build the unit's sandbox. " +
	"A user manager needs unprivileged user namespaces for it: check `sysctl kernel.unprivileged_userns_clone` (Debian: must be 1), " +
	"`sysctl user.max_user_namespaces` (must be above 0) and, on Ubuntu 23.10 and later, `sysctl kernel.apparmor_restrict_unprivileged_userns` (AppArmor may refuse them to unconfined programs). " +
	"Or keep the rest of the hardening and leave out the namespace-based directives: `hermes install-unit --sandbox=minimal`"

var table = map[int]Status{
	0:  {Name: "SUCCESS", Cause: "stopped on request after draining", Planned: true},
	1:  {Name: "FAILURE", Cause: "the gateway could not run (another gateway holds the store, or the state directory is unusable); its last journal lines say which", Fix: "read `hermes gateway logs -n 30`"},
	75: {Name: "TEMPFAIL", Cause: "a planned restart (chat /restart, `hermes update`, POST /v1/restart) after draining; systemd starts it again at once", Planned: true},
	78: {Name: "CONFIG", Cause: "the configuration cannot work (a bad file, a rejected token, a damaged store); systemd does not restart it", Fix: "fix what the last journal line names (`hermes gateway logs -n 5`), then `hermes gateway start`"},

	200: {Name: "CHDIR", Cause: "systemd could not change into the unit's WorkingDirectory=", Fix: "check the directory in `systemctl --user cat hermes-gateway` exists and is yours"},
	201: {Name: "NICE", Cause: "systemd could not set the Nice= level"},
	202: {Name: "FDS", Cause: "systemd could not pass the sockets (file descriptors) to the process", Fix: "`systemctl --user restart hermes-gateway.socket`, then `hermes gateway start`"},
	203: {Name: "EXEC", Cause: "systemd could not execute the gateway binary named in ExecStart= (missing, not executable, or a broken `current` link)", Fix: "check `ls -l ~/.local/lib/hermes/current/`; `hermes update --rollback` or `make install` puts a working version back"},
	204: {Name: "MEMORY", Cause: "systemd ran out of memory while starting the unit", Fix: "free memory, then `hermes gateway start`"},
	205: {Name: "LIMITS", Cause: "systemd could not set a resource limit (Limit*=) of the unit"},
	206: {Name: "OOM_ADJUST", Cause: "systemd could not set OOMScoreAdjust="},
	207: {Name: "SIGNAL_MASK", Cause: "systemd could not set the signal mask"},
	208: {Name: "STDIN", Cause: "systemd could not set up standard input"},
	209: {Name: "STDOUT", Cause: "systemd could not connect standard output to the journal", Fix: "check that journald runs: `systemctl status systemd-journald`"},
	210: {Name: "CHROOT", Cause: "systemd could not change the root directory (RootDirectory=)"},
	211: {Name: "IOPRIO", Cause: "systemd could not set the IO priority"},
	212: {Name: "TIMERSLACK", Cause: "systemd could not set the timer slack"},
	213: {Name: "SECUREBITS", Cause: "systemd could not set the process's secure bits", Sandbox: true},
	214: {Name: "SETSCHEDULER", Cause: "systemd could not set the CPU scheduling policy"},
	215: {Name: "CPUAFFINITY", Cause: "systemd could not set the CPU affinity"},
	216: {Name: "GROUP", Cause: "systemd could not set the group (Group=)"},
	217: {Name: "USER", Cause: "systemd could not set the user (User=), or look up the user's home directory"},
	218: {Name: "CAPABILITIES", Cause: "systemd could not drop the unit's capabilities (CapabilityBoundingSet=): a user manager can do that only inside a user namespace (PrivateUsers=yes), which systemd 252 does not create on its own", Sandbox: true},
	219: {Name: "CGROUP", Cause: "systemd could not put the process into its control group", Fix: "check the user manager: `systemctl --user status`"},
	220: {Name: "SETSID", Cause: "systemd could not create a new session"},
	221: {Name: "CONFIRM", Cause: "the start was refused at the confirmation prompt (systemd.confirm_spawn)"},
	222: {Name: "STDERR", Cause: "systemd could not connect standard error to the journal", Fix: "check that journald runs: `systemctl status systemd-journald`"},
	224: {Name: "PAM", Cause: "the PAM session of the unit could not be set up"},
	225: {Name: "NETWORK", Cause: "systemd could not set up the unit's network namespace (PrivateNetwork=)", Sandbox: true},
	226: {Name: "NAMESPACE", Cause: "systemd could not set up the unit's mount namespace (ProtectSystem=, ProtectHome=, PrivateTmp=, ReadWritePaths=, ProtectKernel*=): a path named in ReadWritePaths= may be missing, or the user manager may not create namespaces here", Sandbox: true},
	227: {Name: "NO_NEW_PRIVILEGES", Cause: "systemd could not set NoNewPrivileges=", Sandbox: true},
	228: {Name: "SECCOMP", Cause: "systemd could not install the unit's system call filter (SystemCallFilter=, RestrictNamespaces=, MemoryDenyWriteExecute=, …): the kernel may lack seccomp", Sandbox: true},
	229: {Name: "SELINUX_CONTEXT", Cause: "systemd could not set the SELinux context"},
	230: {Name: "PERSONALITY", Cause: "systemd could not set the execution domain (LockPersonality=, Personality=)", Sandbox: true},
	231: {Name: "APPARMOR", Cause: "systemd could not switch to the AppArmor profile (AppArmorProfile=)"},
	232: {Name: "ADDRESS_FAMILIES", Cause: "systemd could not restrict the socket address families (RestrictAddressFamilies=)", Sandbox: true},
	233: {Name: "RUNTIME_DIRECTORY", Cause: "systemd could not create the runtime directory (RuntimeDirectory=)", Fix: "check that $XDG_RUNTIME_DIR (/run/user/UID) exists and is yours"},
	235: {Name: "CHOWN", Cause: "systemd could not change the owner of the socket or a directory"},
	236: {Name: "SMACK_PROCESS_LABEL", Cause: "systemd could not set the SMACK label"},
	237: {Name: "KEYRING", Cause: "systemd could not set up the kernel keyring (KeyringMode=)", Sandbox: true},
	238: {Name: "STATE_DIRECTORY", Cause: "systemd could not create the state directory (StateDirectory=)", Fix: "check that ~/.local/state (or $XDG_STATE_HOME) is a directory you own and the disk is not full"},
	239: {Name: "CACHE_DIRECTORY", Cause: "systemd could not create the cache directory (CacheDirectory=)"},
	240: {Name: "LOGS_DIRECTORY", Cause: "systemd could not create the logs directory (LogsDirectory=)"},
	241: {Name: "CONFIGURATION_DIRECTORY", Cause: "systemd could not create the configuration directory (ConfigurationDirectory=)"},
	242: {Name: "NUMA_POLICY", Cause: "systemd could not set the NUMA policy"},
	243: {Name: "CREDENTIALS", Cause: "systemd could not pass the unit's credentials (LoadCredential=, SetCredential=)"},
	255: {Name: "EXCEPTION", Cause: "systemd hit an unexpected error while starting the unit", Fix: "the manager's own journal lines about the unit say more: `journalctl --user -u hermes-gateway -n 20`"},
	244: {Name: "BPF", Cause: "systemd could not install a BPF program of the unit (IPAddressDeny=, RestrictFileSystems=, …)", Sandbox: true},
}

// Explain returns what is known about an exit status. Codes it does not
// know are the process's own: the gateway's journal says why.
func Explain(code int) Status {
	s, ok := table[code]
	if !ok {
		return Status{Code: code, Cause: "the gateway exited with status " + strconv.Itoa(code), Fix: "read `hermes gateway logs -n 30`"}
	}
	s.Code = code
	if s.Sandbox && s.Fix == "" {
		s.Fix = sandboxFix
	}
	if s.Fix == "" && code >= 200 {
		s.Fix = "the manager's own journal lines about the unit say more: `journalctl --user -u hermes-gateway -n 20`"
	}
	return s
}
