package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SendTimeout bounds a whole SendMail conversation, scanning included.
const SendTimeout = 2 * time.Minute

// SendMail delivers msg over SMTP (RFC 5321) to addr: EHLO localhost, MAIL
// FROM:<from> ("" is the null sender <>), one RCPT TO per recipient, DATA.
//
// code and text are the last reply the server gave; text joins the lines of a
// multi-line reply with "\n". When the conversation reached the end of DATA,
// err is nil and code/text are the reply to the message (250, 451, 554...).
// Any earlier refusal, and any network or protocol trouble, is an error, with
// code/text of the refusal if there was one.
//
// msg may use LF or CRLF line ends; it is sent with CRLF, dot-stuffed, and a
// missing final line end is added.
func SendMail(t testing.TB, addr, from string, rcpts []string, msg []byte) (code int, text string, err error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(SendTimeout)); err != nil {
		return 0, "", err
	}
	c := &smtpConn{r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}

	if code, text, err = c.reply(); err != nil {
		return code, text, err
	}
	if code != 220 {
		return code, text, fmt.Errorf("greeting: %d %s", code, text)
	}
	type step struct {
		cmd  string
		want int
	}
	steps := []step{{"EHLO localhost", 250}, {"MAIL FROM:<" + from + ">", 250}}
	for _, r := range rcpts {
		steps = append(steps, step{"RCPT TO:<" + r + ">", 250})
	}
	steps = append(steps, step{"DATA", 354})
	for _, s := range steps {
		if code, text, err = c.command(s.cmd); err != nil {
			return code, text, err
		}
		if code != s.want {
			c.command("QUIT")
			return code, text, fmt.Errorf("%s: %d %s", s.cmd, code, text)
		}
	}

	if _, err := c.w.Write(dotStuff(msg)); err != nil {
		return 0, "", err
	}
	if err := c.w.Flush(); err != nil {
		return 0, "", err
	}
	if code, text, err = c.reply(); err != nil {
		return code, text, err
	}
	c.command("QUIT") // the message's fate is decided; QUIT is a courtesy
	return code, text, nil
}

type smtpConn struct {
	r *bufio.Reader
	w *bufio.Writer
}

func (c *smtpConn) command(line string) (int, string, error) {
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return 0, "", err
	}
	if err := c.w.Flush(); err != nil {
		return 0, "", err
	}
	return c.reply()
}

// reply reads one reply: "ddd-text" lines, then a "ddd text" (or "ddd")
// line (RFC 5321 section 4.2).
func (c *smtpConn) reply() (int, string, error) {
	var lines []string
	code := 0
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return code, strings.Join(lines, "\n"), fmt.Errorf("read reply: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return code, strings.Join(lines, "\n"), fmt.Errorf("malformed reply line %q", line)
		}
		n, err := strconv.Atoi(line[:3])
		if err != nil || (code != 0 && n != code) {
			return code, strings.Join(lines, "\n"), fmt.Errorf("malformed reply line %q", line)
		}
		code = n
		more := len(line) > 3 && line[3] == '-'
		if len(line) > 4 {
			lines = append(lines, line[4:])
		} else {
			lines = append(lines, "")
		}
		if !more {
			return code, strings.Join(lines, "\n"), nil
		}
	}
}

// dotStuff turns msg into the DATA payload: CRLF line ends, a '.' doubled at
// the start of a line, and the final ".".
func dotStuff(msg []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/40 + 8)
	rest := msg
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && line[0] == '.' {
			b.WriteByte('.')
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}
