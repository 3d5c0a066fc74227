package actors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/judge"
)

// writeCerts makes a CA and a certificate for 127.0.0.1 signed by it, as
// PEM files in a temporary directory.
func writeCerts(t *testing.T) config.TLS {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, nodeKey := newKey(), newKey()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pecan test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "pecan node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &nodeKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	return config.TLS{
		CA:   write("ca.pem", "CERTIFICATE", caDER),
		Cert: write("node.pem", "CERTIFICATE", leafDER),
		Key:  write("node-key.pem", "EC PRIVATE KEY", keyDER),
	}
}

func TestClusterMutualTLS(t *testing.T) {
	tls := writeCerts(t)
	addrs := clusterPorts(t, 2)
	a := startMemberTLS(t, addrs[0], addrs, slowProgram(200*time.Millisecond), tls)
	startMemberTLS(t, addrs[1], addrs, slowProgram(200*time.Millisecond), tls)
	waitMembers(t, a, 2)
	nodes := map[string]int{}
	for i, resp := range executeAll(t, a.pool, 2) {
		if resp == nil {
			continue
		}
		if resp.Code != int32(judge.Accepted) {
			t.Errorf("job %d: %+v", i, resp)
		}
		nodes[resp.Node]++
	}
	if nodes[addrs[1]] == 0 {
		t.Errorf("no job crossed the TLS link: %v", nodes)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	good := writeCerts(t)
	for name, c := range map[string]config.TLS{
		"missing CA":   {CA: filepath.Join(t.TempDir(), "none.pem"), Cert: good.Cert, Key: good.Key},
		"CA not a PEM": {CA: good.Key + ".txt", Cert: good.Cert, Key: good.Key},
		"key mismatch": {CA: good.CA, Cert: good.CA, Key: good.Key},
	} {
		if name == "CA not a PEM" {
			if err := os.WriteFile(c.CA, []byte("not a certificate"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := remoteOptions(c, testLogger()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestClusterTLSRefusesPlainMember(t *testing.T) {
	tls := writeCerts(t)
	addrs := clusterPorts(t, 2)
	a := startMemberTLS(t, addrs[0], addrs, slowProgram(0), tls)
	startMember(t, addrs[1], addrs, slowProgram(0)) // no certificate
	eventually(t, "the plain member in the topology", func() bool {
		return len(a.cluster.compatible(a.cluster.cluster.MemberList.Members().Members())) == 1
	})
	// Membership is found, but remoting refuses the handshake: the
	// member's announcements never arrive, so nothing is ever sent to it.
	// Three announcement periods are ample for one to get through.
	for end := time.Now().Add(3 * announceEvery); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if st := status(t, a.pool); len(st.Members) != 1 {
			t.Fatalf("a member without a certificate was heard: %v", st.Members)
		}
	}
}
