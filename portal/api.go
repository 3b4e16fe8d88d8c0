package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/signing"
)

// maxUpload caps an upload: one oat file, with room for a multipart
// envelope around it. Anything bigger is refused before it is read.
const maxUpload = signing.MaxFileSize + 8<<10

// deskTimeout bounds one call into the desk, so a stuck database answers
// 503 rather than holding the connection until the write timeout.
const deskTimeout = 15 * time.Second

// apiError is the body of every API error.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (s *Server) writeAPIError(w http.ResponseWriter, _ *http.Request, status int, code, msg string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.code = code
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Del("Content-Disposition")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{Error: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// classify maps an error from parsing or from the desk to an HTTP status,
// an error code and whether its text may be shown to the client.
func classify(err error) (status int, code string, public bool) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, signing.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", true
	case errors.Is(err, signing.ErrKind):
		return http.StatusBadRequest, "wrong_kind", true
	case errors.Is(err, signing.ErrMalformed), errors.Is(err, signing.ErrArmor),
		errors.Is(err, signing.ErrAlgorithm), errors.Is(err, signing.ErrCritical),
		errors.Is(err, signing.ErrSignature), errors.Is(err, signing.ErrClaims),
		errors.Is(err, signing.ErrConfirmation), errors.Is(err, request.ErrNotSelfSigned),
		errors.Is(err, keys.ErrUntrusted), errors.Is(err, ErrBadFile):
		return http.StatusBadRequest, "bad_file", true
	case errors.Is(err, ErrInvalidInput):
		return http.StatusBadRequest, "invalid_input", true
	case errors.Is(err, ErrNotEntitled):
		return http.StatusForbidden, "not_entitled", true
	case errors.Is(err, ErrPendingApproval):
		return http.StatusConflict, "pending_approval", true
	case errors.Is(err, ErrMethod):
		return http.StatusConflict, "wrong_method", true
	case errors.Is(err, ErrNoSeats):
		return http.StatusConflict, "no_seats", true
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, "conflict", true
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found", true
	case errors.Is(err, ErrExpired):
		return http.StatusGone, "expired", true
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "unavailable", false
	}
	return http.StatusInternalServerError, "internal", false
}

// fail answers an API call with the JSON error for err. Errors that are
// not the client's are logged in full and answered in general terms.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, public := classify(err)
	msg := err.Error()
	if !public {
		s.log.Error("desk", "path", r.URL.Path, "err", err)
		msg = http.StatusText(status)
	}
	s.writeAPIError(w, r, status, code, msg)
}

// errUnsupportedType is the answer to a body the API does not take.
var errUnsupportedType = errors.New("unsupported content type")

// uploadTypes are the bodies an upload may be sent as; the file inside
// is recognised by its content, armored or raw.
var uploadTypes = map[string]bool{
	"":                                  true,
	"application/octet-stream":          true,
	"text/plain":                        true,
	"application/x-pem-file":            true,
	"application/cose":                  true,
	"application/cbor":                  true,
	"application/vnd.oat.request+cbor":  true,
	"application/vnd.oat.release+cbor":  true,
	"application/vnd.oat.license+cbor":  true,
	"application/vnd.oat.checkin+cbor":  true,
	"multipart/form-data":               true,
	"application/x-www-form-urlencoded": false,
}

// readUpload reads one oat file from the body: the raw body, or the "file"
// part (else the "text" field) of a multipart form. The body is capped
// before anything is read.
func readUpload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxUpload {
		return nil, &http.MaxBytesError{Limit: maxUpload}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, fmt.Errorf("%w %q", errUnsupportedType, ct)
		}
	}
	if !uploadTypes[mt] {
		return nil, fmt.Errorf("%w %q: send the file as application/octet-stream, text/plain or multipart/form-data", errUnsupportedType, mt)
	}
	if mt != "multipart/form-data" {
		return io.ReadAll(r.Body)
	}
	if err := r.ParseMultipartForm(maxUpload); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: multipart form: %v", ErrBadFile, err)
	}
	if f, _, err := r.FormFile("file"); err == nil {
		defer f.Close()
		return io.ReadAll(io.LimitReader(f, maxUpload))
	}
	if t := r.FormValue("text"); strings.TrimSpace(t) != "" {
		return []byte(t), nil
	}
	return nil, fmt.Errorf("%w: the form has no file and no text", ErrBadFile)
}

// upload reads the body and answers the error itself if it cannot.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := readUpload(w, r)
	if errors.Is(err, errUnsupportedType) {
		s.writeAPIError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", err.Error())
		return nil, false
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeAPIError(w, r, http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("the upload is larger than %d bytes; an oat file is at most %d", mbe.Limit, signing.MaxFileSize))
			return nil, false
		}
		s.fail(w, r, err)
		return nil, false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		s.writeAPIError(w, r, http.StatusBadRequest, "bad_file", "the upload is empty")
		return nil, false
	}
	return data, true
}

// postActivation answers a request file with the license file.
func (s *Server) postActivation(w http.ResponseWriter, r *http.Request) {
	data, ok := s.upload(w, r)
	if !ok {
		return
	}
	pool := uploadPool(r)
	lic, req, ok := s.activate(w, r, data, func(ctx context.Context, v desk.VerifiedRequest) ([]byte, error) {
		return s.desk.Issue(ctx, v, pool)
	})
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": licenseFileName(req.Host)}))
	w.Write(lic)
}

// activate issues the license that answers data, a request file: the steps
// an upload (postActivation) and oat activate (postOnlineActivation) share.
// It answers errors itself; ok says whether to go on and send lic.
func (s *Server) activate(w http.ResponseWriter, r *http.Request, data []byte, issue func(context.Context, desk.VerifiedRequest) ([]byte, error)) (lic []byte, req request.Request, ok bool) {
	// Check the file here, so that a wrong or damaged file is a 400 with
	// a precise reason whatever the desk says, and to name the download.
	// The desk takes the verified request: the signature is verified
	// once per activation.
	v, err := desk.VerifyRequest(data)
	if err != nil {
		s.fail(w, r, fmt.Errorf("request file: %w", err))
		return nil, req, false
	}
	req = v.Request()
	// Guessing fulfillment numbers is locked out, online as on the page.
	if !s.guessesLeft(w, r, req.Order) {
		return nil, req, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), deskTimeout)
	defer cancel()
	lic, err = issue(ctx, v)
	if err != nil {
		if errors.Is(err, ErrWrongOrder) {
			s.guesses.failed(req.Order, s.clientIP(r))
		}
		s.fail(w, r, err)
		return nil, req, false
	}
	return lic, req, true
}

// uploadPool is the license pool an activation asks for (A12, FAQ 2.22):
// the query parameter pool, or the form field of that name.
func uploadPool(r *http.Request) string {
	if p := r.URL.Query().Get("pool"); p != "" {
		return strings.TrimSpace(p)
	}
	if r.MultipartForm != nil {
		if v := r.MultipartForm.Value["pool"]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
	}
	return ""
}

// guessesLeft answers 429 if the order ID or the client is locked out
// for guessing fulfillment numbers, and says whether to go on. The answer
// is the same whether the order exists or not.
func (s *Server) guessesLeft(w http.ResponseWriter, r *http.Request, order string) bool {
	until := s.guesses.lockedUntil(order, s.clientIP(r))
	if until.IsZero() {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(until.Sub(s.now()).Seconds())+1))
	s.writeAPIError(w, r, http.StatusTooManyRequests, "locked_out",
		fmt.Sprintf("too many wrong order IDs or fulfillment numbers: refused until %s UTC", until.UTC().Format("2006-01-02 15:04")))
	return false
}

// licenseFileName names the download after the computer it is for, in
// characters every file system takes.
func licenseFileName(host string) string {
	var b strings.Builder
	for _, c := range host {
		switch {
		case c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c)), c == '-', c == '_', c == '.':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	name := strings.Trim(b.String(), "._")
	if name == "" {
		return "license.oat"
	}
	return name + ".license.oat"
}

// postRelease takes a release receipt back to the desk.
func (s *Server) postRelease(w http.ResponseWriter, r *http.Request) {
	data, ok := s.upload(w, r)
	if !ok {
		return
	}
	if _, err := release.Peek(data); err != nil {
		s.fail(w, r, fmt.Errorf("release receipt: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), deskTimeout)
	defer cancel()
	rel, err := s.desk.Release(ctx, data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rel.Products == nil {
		rel.Products = []string{}
	}
	writeJSON(w, http.StatusOK, rel)
}

// Preview is what POST /v1/preview says about a file before it is sent.
type Preview struct {
	Kind        string   `json:"kind"` // "request" or "release"
	Order       string   `json:"order,omitempty"`
	Fulfillment string   `json:"fulfillment,omitempty"`
	Email       string   `json:"email,omitempty"`
	Name        string   `json:"name,omitempty"`
	Company     string   `json:"company,omitempty"`
	Products    []string `json:"products,omitempty"`
	Host        string   `json:"host"`
	Class       string   `json:"machine_class,omitempty"`
	OS          string   `json:"os,omitempty"`
	Hypervisor  string   `json:"hypervisor,omitempty"`
	Cloud       string   `json:"cloud,omitempty"`
	Activation  string   `json:"activation,omitempty"`
	Sequence    uint64   `json:"sequence,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Created     string   `json:"created,omitempty"` // RFC 3339
}

// postPreview decodes a request or release receipt without sending it to
// the desk, so the page can show what the file asks for.
func (s *Server) postPreview(w http.ResponseWriter, r *http.Request) {
	data, ok := s.upload(w, r)
	if !ok {
		return
	}
	m, err := signing.Parse(data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch m.Kind {
	case signing.Request:
		req, _, err := request.Parse(data)
		if err != nil {
			s.fail(w, r, fmt.Errorf("request file: %w", err))
			return
		}
		writeJSON(w, http.StatusOK, Preview{
			Kind: "request", Order: req.Order, Fulfillment: req.Fulfillment, Email: req.Email,
			Name: req.Name, Company: req.Company, Products: req.Products, Host: req.Host,
			Class: req.Machine.Class, OS: req.Machine.OS, Hypervisor: req.Machine.Hyper, Cloud: req.Machine.Cloud,
			Created: time.Unix(req.IssuedAt, 0).UTC().Format(time.RFC3339),
		})
	case signing.Release:
		rec, err := release.Peek(data)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, Preview{
			Kind: "release", Activation: rec.Activation, Sequence: rec.Sequence, Host: rec.Host, Reason: rec.Reason,
			Created: time.Unix(rec.IssuedAt, 0).UTC().Format(time.RFC3339),
		})
	default:
		s.writeAPIError(w, r, http.StatusBadRequest, "wrong_kind",
			fmt.Sprintf("this is a %s; upload the request file (or a release receipt) written by oat on the server", m.Kind))
	}
}

// getOrder shows one order to desk staff.
func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	switch _, err := s.staffIdentity(r); {
	case errors.Is(err, errLoginRate), errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "10")
		s.writeAPIError(w, r, http.StatusTooManyRequests, "rate_limited", err.Error())
		return
	case errors.Is(err, errNoSession):
		w.Header().Set("WWW-Authenticate", `Basic realm="oat staff", charset="UTF-8"`)
		s.writeAPIError(w, r, http.StatusUnauthorized, "unauthorized", "staff credentials required")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), deskTimeout)
	defer cancel()
	o, err := s.desk.Order(ctx, r.PathValue("order"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}
