package main

import (
	"crypto/tls"
	"flag"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/internal/bearer"
	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// adminTokenEnv names the environment variable that gives the admin token
// when --admin-token does not.
const adminTokenEnv = "VERDICT_ADMIN_TOKEN"

// security is how verdictctl reaches a secured cluster: TLS files, and the
// admin token that operator actions need (or an admin certificate).
type security struct {
	files      tlsconf.Files
	adminToken string
	tls        *tls.Config // loaded by load; nil: plaintext
}

func (s *security) register(fs *flag.FlagSet) {
	fs.StringVar(&s.files.Cert, "tls-cert", s.files.Cert, "PEM client certificate (with OU verdict-admin it authorises operator actions)")
	fs.StringVar(&s.files.Key, "tls-key", s.files.Key, "PEM private key of --tls-cert")
	fs.StringVar(&s.files.CA, "tls-ca", s.files.CA, "PEM CA certificate that signed the nodes' certificates: connect over TLS")
	fs.StringVar(&s.adminToken, "admin-token", s.adminToken, "admin token for operator actions (default $"+adminTokenEnv+")")
}

// load reads the TLS files, if any, and the token from the environment when
// no flag gave one.
func (s *security) load() error {
	if s.adminToken == "" {
		s.adminToken = os.Getenv(adminTokenEnv)
	}
	if s.files.Empty() {
		return nil
	}
	c, err := tlsconf.Client(s.files)
	if err != nil {
		return err
	}
	// Only a node may hear the admin token and answer for the cluster.
	s.tls = tlsconf.DialNodes(c)
	return nil
}

// dialOptions are the options of every connection to the cluster.
func (s *security) dialOptions() []grpc.DialOption {
	creds := insecure.NewCredentials()
	if s.tls != nil {
		creds = credentials.NewTLS(s.tls)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if s.adminToken != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer.Credentials(s.adminToken)))
	}
	return opts
}
