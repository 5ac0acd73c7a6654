// Command kubelet-stream is the sandbox kubelet's streaming server: it serves pods/exec exactly as a
// real kubelet does and passes every other request (containerLogs, healthz, ...) to the Python
// kubelet behind it, so the apiserver keeps one node address and port for both.
//
// Why Go and k8s.io/cri-streaming rather than our own Python: pods/exec is an SPDY/3.1 upgrade (or a
// WebSocket one, v5.channel.k8s.io) with sub-protocol negotiation, per-stream framing, a resize
// channel and an exit-code status on the error channel. remotecommand.ServeExec is the very code
// the kubelet and CRI runtimes serve it with (the same package the apiserver's proxy is tested
// against), so its wire behaviour is the real one by construction; a hand-rolled protocol would only
// agree with the clients we happened to test. virtual-kubelet wraps the same package but would also
// take over pod lifecycle and node registration, which the Python kubelet already owns; ServeExec
// plus a reverse proxy is the smallest correct piece.
//
// What runs: the Python kubelet resolves namespace/pod/container to a process whose namespaces the
// command joins (GET <backend>/runtime/exec-target/NS/POD/CONTAINER?command=... -> {"pid", "namespaces", "env",
// "workingDir"}); this server runs `nsenter --target PID --mount [--net] -- env --chdir=DIR COMMAND...` with
// the container's environment, and reports its exit code through the protocol.
//
// Usage: kubelet-stream --backend https://127.0.0.1:PORT [--listen 127.0.0.1:0] < cert-and-key.pem
// The serving certificate and key are read from stdin (never from a file left on disk); the
// backend must present the same certificate (it is ours). The first stdout line is "LISTENING PORT".
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// execTarget is what the Python kubelet answers for a container that can be exec'ed into.
type execTarget struct {
	PID        int      `json:"pid"`
	Namespaces []string `json:"namespaces"` // nsenter flags without dashes: "mount", "net"
	Env        []string `json:"env"`
	WorkingDir string   `json:"workingDir"`
}

type server struct {
	backend *url.URL
	client  *http.Client
	nsenter string
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on (TLS)")
	backend := flag.String("backend", "", "URL of the Python kubelet (https, same certificate)")
	nsenter := flag.String("nsenter", "nsenter", "nsenter binary")
	flag.Parse()
	if *backend == "" {
		log.Fatal("--backend is required")
	}
	pemData, err := io.ReadAll(os.Stdin)
	if err != nil {
		log.Fatalf("reading certificate and key from stdin: %v", err)
	}
	cert, err := tls.X509KeyPair(pemData, pemData)
	if err != nil {
		log.Fatalf("certificate and key on stdin: %v", err)
	}
	backendURL, err := url.Parse(*backend)
	if err != nil {
		log.Fatalf("--backend: %v", err)
	}
	s := &server{backend: backendURL, client: &http.Client{Transport: pinnedTransport(cert)}, nsenter: *nsenter}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()

	proxy := httputil.NewSingleHostReverseProxy(backendURL)
	proxy.Transport = s.client.Transport
	proxy.FlushInterval = -1 // `kubectl logs -f` streams
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/", s.serveExec)
	mux.Handle("/", proxy)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 30 * time.Second}
	log.Fatal(srv.ServeTLS(ln, "", ""))
}

// pinnedTransport trusts exactly our own certificate: the backend is the Python half of this kubelet.
func pinnedTransport(cert tls.Certificate) *http.Transport {
	leaf := cert.Certificate[0]
	return &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the exact-certificate check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], leaf) {
				return errors.New("backend presented a certificate that is not the kubelet's own")
			}
			return nil
		},
	}}
}

// serveExec handles /exec/NS/POD/CONTAINER and /exec/NS/POD/UID/CONTAINER like the kubelet.
func (s *server) serveExec(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(req.URL.Path, "/exec/"), "/"), "/")
	var ns, pod, uid, container string
	switch len(parts) {
	case 3:
		ns, pod, container = parts[0], parts[1], parts[2]
	case 4:
		ns, pod, uid, container = parts[0], parts[1], parts[2], parts[3]
	default:
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	command := req.URL.Query()["command"]
	if len(command) == 0 {
		http.Error(w, "missing command", http.StatusBadRequest)
		return
	}
	opts, err := remotecommand.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	target, status, message := s.resolve(req.Context(), ns, pod, container, command)
	if target == nil {
		http.Error(w, message, status)
		return
	}
	remotecommand.ServeExec(w, req, &nsenterExecutor{nsenter: s.nsenter, target: target}, pod, uid, container,
		command, opts, 4*time.Hour, remotecommand.DefaultStreamCreationTimeout,
		remotecommand.SupportedStreamingProtocols)
}

// resolve asks the Python kubelet which process the container is; its errors are passed on verbatim.
// The command goes along (repeated `command` parameters, as in the exec URL) so that the kubelet can refuse
// one command and serve another, as a runtime whose exec breaks for some calls does (the sandbox's exec-fail
// hook, sandbox/kubelet.py).
func (s *server) resolve(ctx context.Context, ns, pod, container string, command []string) (*execTarget, int, string) {
	u := *s.backend
	u.Path = "/runtime/exec-target/" + url.PathEscape(ns) + "/" + url.PathEscape(pod) + "/" + url.PathEscape(container)
	u.RawQuery = url.Values{"command": command}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, http.StatusInternalServerError, err.Error()
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, http.StatusInternalServerError, "kubelet runtime unreachable: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, strings.TrimSpace(string(body))
	}
	var target execTarget
	if err := json.Unmarshal(body, &target); err != nil || target.PID <= 0 {
		return nil, http.StatusInternalServerError, "kubelet runtime gave no process for the container"
	}
	return &target, http.StatusOK, ""
}

type nsenterExecutor struct {
	nsenter string
	target  *execTarget
}

// ExecInContainer runs the command in the target process's namespaces (remotecommand.Executor).
func (e *nsenterExecutor) ExecInContainer(ctx context.Context, _, _, _ string, cmd []string, in io.Reader,
	out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	args := []string{"--target", fmt.Sprint(e.target.PID)}
	for _, ns := range e.target.Namespaces {
		args = append(args, "--"+ns)
	}
	args = append(args, "--")
	if e.target.WorkingDir != "" {
		// nsenter's --wd opens the directory before entering the mount namespace; env --chdir after.
		args = append(args, "env", "--chdir="+e.target.WorkingDir, "--")
	}
	args = append(args, cmd...)
	c := exec.CommandContext(ctx, e.nsenter, args...)
	c.Env = e.target.Env
	// The command dies with this server, as a container's exec session dies with its runtime.
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var err error
	if tty {
		err = runWithTTY(c, in, out, resize)
	} else {
		err = runPiped(c, in, out, errOut)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code := exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return utilexec.CodeExitError{Err: err, Code: code}
	}
	return err
}

// runPiped copies stdin in its own goroutine: exec.Cmd would otherwise wait for the client to close
// stdin even after the command has exited.
func runPiped(c *exec.Cmd, in io.Reader, out, errOut io.Writer) error {
	if out != nil {
		c.Stdout = out
	}
	if errOut != nil {
		c.Stderr = errOut
	}
	var stdin io.WriteCloser
	if in != nil {
		var err error
		if stdin, err = c.StdinPipe(); err != nil {
			return err
		}
	}
	if err := c.Start(); err != nil {
		return err
	}
	if stdin != nil {
		go func() {
			_, _ = io.Copy(stdin, in)
			_ = stdin.Close()
		}()
	}
	return c.Wait()
}

// runWithTTY gives the command a pseudo-terminal (kubectl exec -t) and follows resize events.
func runWithTTY(c *exec.Cmd, in io.Reader, out io.Writer, resize <-chan remotecommand.TerminalSize) error {
	term, err := pty.Start(c)
	if err != nil {
		return err
	}
	defer term.Close()
	if resize != nil {
		go func() {
			for size := range resize {
				_ = pty.Setsize(term, &pty.Winsize{Rows: size.Height, Cols: size.Width})
			}
		}()
	}
	if in != nil {
		go func() { _, _ = io.Copy(term, in) }()
	}
	done := make(chan struct{})
	go func() {
		if out != nil {
			_, _ = io.Copy(out, term)
		}
		close(done)
	}()
	err = c.Wait()
	select {
	case <-done:
	case <-time.After(2 * time.Second): // output still buffered in the terminal is dropped after a grace
	}
	return err
}
