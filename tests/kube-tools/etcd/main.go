// Command etcd is the etcd server, built from the published go.etcd.io/etcd/server/v3 module
// (the same entry point as etcd's own main.go) for the Kubeworkz integration-test clusters.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
