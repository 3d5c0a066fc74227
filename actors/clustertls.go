package actors

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/asynkron/protoactor-go/remote"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pecan-judge/pecan/config"
)

// maxMessage bounds one gRPC message between members. protoactor
// batches messages, and one answer may carry two outputs of
// limits.output_kib each (64 MiB by default); gRPC's own default, 4 MiB,
// would break the connection and lose every job on it.
const maxMessage = 512 << 20

// remoteOptions configures remoting: message size, recovery from
// malformed messages (remoting.go), and mutual TLS when t is enabled: the server demands a client certificate signed by the CA,
// and the client checks the server's against the same CA (and its name
// against the member's address, so certificates need the bind host as a
// SAN).
func remoteOptions(t config.TLS, logger logrus.FieldLogger) ([]remote.ConfigOption, error) {
	server := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessage),
		grpc.ChainStreamInterceptor(recoverStream(logger)),
		grpc.ChainUnaryInterceptor(recoverUnary(logger)),
	}
	if !t.Enabled() {
		return []remote.ConfigOption{
			remote.WithServerOptions(server...),
			remote.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}, nil
	}
	caPEM, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, fmt.Errorf("cluster tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cluster tls: no certificate in %s", t.CA)
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("cluster tls: %w", err)
	}
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	clientTLS := &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS13,
	}
	return []remote.ConfigOption{
		remote.WithServerOptions(append(server, grpc.Creds(credentials.NewTLS(serverTLS)))...),
		remote.WithDialOptions(grpc.WithTransportCredentials(credentials.NewTLS(clientTLS))),
	}, nil
}
