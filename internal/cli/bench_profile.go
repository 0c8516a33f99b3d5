package cli

import (
	"errors"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/pflag"
)

// benchProfiles are the profile flags of the bench commands: the issue
// asks for CPU, block and mutex profiles kept with the results, so a
// figure comes with the evidence of where its time went. They cover the
// whole process: the clients and, without --addr, the server in it.
type benchProfiles struct {
	cpu, block, mutex string
}

func (p *benchProfiles) addFlags(f *pflag.FlagSet) {
	f.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of this process (clients and in-process server) to FILE")
	f.StringVar(&p.block, "blockprofile", "", "write a block profile (where goroutines waited, every event recorded) to FILE")
	f.StringVar(&p.mutex, "mutexprofile", "", "write a mutex contention profile (every event recorded) to FILE")
}

// start begins the profiles asked for; the returned function writes them
// and stops profiling. Block and mutex profiling are switched on only
// when asked, since they slow every blocking call.
func (p *benchProfiles) start() (stop func() error, err error) {
	var cpu *os.File
	if p.cpu != "" {
		if cpu, err = os.Create(p.cpu); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, err
		}
	}
	if p.block != "" {
		runtime.SetBlockProfileRate(1)
	}
	if p.mutex != "" {
		runtime.SetMutexProfileFraction(1)
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		write := func(name, file string) {
			f, err := os.Create(file)
			if err != nil {
				errs = append(errs, err)
				return
			}
			errs = append(errs, pprof.Lookup(name).WriteTo(f, 0), f.Close())
		}
		if p.block != "" {
			write("block", p.block)
			runtime.SetBlockProfileRate(0)
		}
		if p.mutex != "" {
			write("mutex", p.mutex)
			runtime.SetMutexProfileFraction(0)
		}
		return errors.Join(errs...)
	}, nil
}
