package hooks

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name, line string
		want       []string
		wantErr    bool
	}{
		{"plain", "/usr/local/bin/fence.sh", []string{"/usr/local/bin/fence.sh"}, false},
		{"args and blanks", "  /bin/x  a\tb  ", []string{"/bin/x", "a", "b"}, false},
		{"single quotes literal", `/bin/x 'a b' '$HOME \n'`, []string{"/bin/x", "a b", `$HOME \n`}, false},
		{"double quotes escapes", `/bin/x "a \"b\" \\ \$c \n"`, []string{"/bin/x", `a "b" \ $c \n`}, false},
		{"backslash outside quotes", `/bin/x a\ b \'`, []string{"/bin/x", "a b", "'"}, false},
		{"adjacent quoted parts join", `/bin/x 'a'"b"c`, []string{"/bin/x", "abc"}, false},
		{"empty quoted word kept", `/bin/x '' ""`, []string{"/bin/x", "", ""}, false},
		{"no expansion", `/bin/x $(id) ; rm *`, []string{"/bin/x", "$(id)", ";", "rm", "*"}, false},
		{"unterminated single", `/bin/x 'a`, nil, true},
		{"unterminated double", `/bin/x "a`, nil, true},
		{"blank", "   ", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(tt.line)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Split(%q) error = %v, want error %v", tt.line, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Split(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
	if _, err := Split(""); !errors.Is(err, ErrEmptyCommand) {
		t.Errorf("Split(\"\") = %v, want ErrEmptyCommand", err)
	}
}

func TestExpand(t *testing.T) {
	v := Vars{
		NewPrimary: "10.0.0.2", FailedPrimary: "10.0.0.1",
		Target: "10.0.0.3", TargetType: "s",
		Subject: "[INFO] EFM x", Body: "body\ntext",
	}
	tests := []struct {
		name string
		kind Kind
		line string
		v    Vars
		want []string
	}{
		{"fence p and f", Fence, "/f.sh %p %f", v, []string{"/f.sh", "10.0.0.2", "10.0.0.1"}},
		{"fence no failed primary keeps empty arg", Fence, "/f.sh %p %f end", Vars{NewPrimary: "10.0.0.2"}, []string{"/f.sh", "10.0.0.2", "", "end"}},
		{"placeholder inside word", PostPromotion, "/p.sh --new=%p --old=%f", v, []string{"/p.sh", "--new=10.0.0.2", "--old=10.0.0.1"}},
		{"remote pre only p", RemotePrePromotion, "/r.sh %p %f %h", v, []string{"/r.sh", "10.0.0.2", "%f", "%h"}},
		{"remote post only p", RemotePostPromotion, "/r.sh %p %f", v, []string{"/r.sh", "10.0.0.2", "%f"}},
		{"lb attach h and t", LoadBalancerAttach, "/lb.sh attach %h %t", v, []string{"/lb.sh", "attach", "10.0.0.3", "s"}},
		{"lb detach ignores p", LoadBalancerDetach, "/lb.sh %h %t %p", v, []string{"/lb.sh", "10.0.0.3", "s", "%p"}},
		{"db failure takes none", DBFailure, "/d.sh %p %f %h %t", v, []string{"/d.sh", "%p", "%f", "%h", "%t"}},
		{"sudo user u", SudoUserCommand, "sudo -u %u", v, []string{"sudo", "-u", "postgres"}},
		{"percent percent kept", Fence, "/f.sh 100%% %p%", v, []string{"/f.sh", "100%%", "10.0.0.2%"}},
		{"notification appends subject and body", Notification, "/n.sh --mail", v, []string{"/n.sh", "--mail", "[INFO] EFM x", "body\ntext"}},
		{"value is not re-expanded", Fence, "/f.sh %f", Vars{FailedPrimary: "%p"}, []string{"/f.sh", "%p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.kind, tt.line, tt.v, "postgres")
			if err != nil {
				t.Fatalf("Expand: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Expand(%s, %q) (-want +got):\n%s", tt.kind, tt.line, diff)
			}
		})
	}
}

func TestExpandStringRestoreCommand(t *testing.T) {
	got := ExpandString(RestoreCommand, "scp %h:/archive/%f %p; echo 100%%", Vars{NewPrimary: "10.0.0.9"}, "")
	want := "scp 10.0.0.9:/archive/%f %p; echo 100%%"
	if got != want {
		t.Errorf("ExpandString = %q, want %q", got, want)
	}
}

func TestKindEvent(t *testing.T) {
	for k, want := range map[Kind]string{
		Fence: "fence", PostPromotion: "post-promotion", LoadBalancerDetach: "load-balancer-detach",
		CustomMonitor: "custom-monitor", DBPassword: "db-password",
	} {
		if got := k.Event(); got != want {
			t.Errorf("%s.Event() = %q, want %q", k, got, want)
		}
	}
}
