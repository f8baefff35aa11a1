package scheduler

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
)

// MasterKind says what runs a master's tasks.
type MasterKind string

// The kinds of master.
const (
	LocalMaster        MasterKind = "local"         // goroutine slots of this process
	LocalClusterMaster MasterKind = "local-cluster" // executor processes on loopback
	StandaloneMaster   MasterKind = "ember"         // a standalone cluster
)

// Master is a parsed master URL.
type Master struct {
	// URL is the master URL as given.
	URL  string
	Kind MasterKind
	// Slots is the task slots of a local master, and of a local cluster
	// in all.
	Slots int
	// Executors and Cores are a local cluster's executor processes and
	// the task slots of each.
	Executors, Cores int
	// Memory is the memory of each executor of a local cluster, in bytes;
	// 0 leaves the executors' default.
	Memory int64
	// Seeds are the gossip addresses an ember:// master joins through.
	Seeds []string
}

// ParseMaster parses a master URL:
//
//	local             one task slot in this process
//	local[N]          N slots; local[*]: one per CPU
//	local-cluster[N]  N executor processes of this program on loopback,
//	                  one slot each; local-cluster[N,C]: C slots each;
//	                  local-cluster[N,C,M]: and M MiB of memory each
//	                  (as Spark's; spaces allowed)
//	ember://host:port[,host:port…]  a standalone cluster, joined through
//	                  the gossip addresses of some of its members
func ParseMaster(url string) (Master, error) {
	m, err := parseMaster(url)
	m.URL = url
	return m, err
}

func parseMaster(url string) (Master, error) {
	switch {
	case url == "local":
		return Master{Kind: LocalMaster, Slots: 1}, nil
	case url == "local[*]":
		return Master{Kind: LocalMaster, Slots: runtime.NumCPU()}, nil
	case strings.HasPrefix(url, "local[") && strings.HasSuffix(url, "]"):
		n, err := strconv.Atoi(url[len("local[") : len(url)-1])
		if err != nil || n < 1 {
			return Master{}, fmt.Errorf("master %q: the slot count must be a positive integer or *", url)
		}
		return Master{Kind: LocalMaster, Slots: n}, nil
	case strings.HasPrefix(url, "local-cluster[") && strings.HasSuffix(url, "]"):
		return parseLocalCluster(url)
	case strings.HasPrefix(url, "ember://"):
		m := Master{Kind: StandaloneMaster}
		for _, seed := range strings.Split(strings.TrimPrefix(url, "ember://"), ",") {
			host, port, err := net.SplitHostPort(strings.TrimSpace(seed))
			if err != nil || host == "" || port == "" {
				return Master{}, fmt.Errorf("master %q: seed %q is not host:port", url, seed)
			}
			m.Seeds = append(m.Seeds, net.JoinHostPort(host, port))
		}
		return m, nil
	}
	return Master{}, fmt.Errorf("unknown master %q: want local, local[N], local[*], local-cluster[N] or ember://host:port", url)
}

// parseLocalCluster parses local-cluster[N] and local-cluster[N,C].
func parseLocalCluster(url string) (Master, error) {
	args := strings.Split(url[len("local-cluster["):len(url)-1], ",")
	m := Master{Kind: LocalClusterMaster, Cores: 1}
	var err error
	if m.Executors, err = strconv.Atoi(strings.TrimSpace(args[0])); err != nil || m.Executors < 1 || m.Executors > 64 {
		return Master{}, fmt.Errorf("master %q: the executor count must be an integer from 1 to 64", url)
	}
	if len(args) > 3 {
		return Master{}, fmt.Errorf("master %q: want local-cluster[N], local-cluster[N,cores] or local-cluster[N,cores,memoryMiB]", url)
	}
	if len(args) >= 2 {
		if m.Cores, err = strconv.Atoi(strings.TrimSpace(args[1])); err != nil || m.Cores < 1 {
			return Master{}, fmt.Errorf("master %q: the cores per executor must be a positive integer", url)
		}
	}
	if len(args) == 3 {
		mib, err := strconv.ParseInt(strings.TrimSpace(args[2]), 10, 64)
		if err != nil || mib < 1 || mib > 1<<30 {
			return Master{}, fmt.Errorf("master %q: the memory per executor must be a positive number of MiB", url)
		}
		m.Memory = mib << 20
	}
	m.Slots = m.Executors * m.Cores
	return m, nil
}
