# nix/tests/orchestrator.nix: the NixOS VM test of services.devbox-quadlet
# (the flake's checks.<system>.orchestrator). One machine with the module
# and two users; no network and no tailnet ([secrets] backend "none": the
# containers get no key, and devbox-init reports ready without joining).
#
# It checks what only a booted NixOS can show: lingering user managers
# without a login, the image loaded into each user's store by the module,
# `create` through the D-Bus-activated agent, the ledger, the reaper's
# timer, a container that comes back after a reboot, one user's names kept
# from another, and `destroy`.
#
#   nix build .#checks.x86_64-linux.orchestrator         (needs KVM)
#   nix run .#checks.x86_64-linux.orchestrator.driverInteractive
{
  pkgs,
  # The module under test: the flake passes nixosModules.orchestrator.
  module ? ../modules/orchestrator.nix,
}:
let
  testUsers = {
    alice = {
      uid = 1001;
      admin = true;
      description = "Alice Test";
    };
    bob = {
      uid = 1002;
      maxContainers = 2;
    };
  };
in
pkgs.testers.runNixOSTest {
  name = "devbox-quadlet-orchestrator";

  nodes.machine =
    { ... }:
    {
      imports = [ module ];

      # The image is a gigabyte or so per user store (code-server, the
      # compiler): room for two stores, and memory for two containers.
      virtualisation = {
        memorySize = 4096;
        cores = 2;
        diskSize = 16384;
      };

      services.devbox-quadlet = {
        enable = true;
        users = testUsers;
        settings = {
          secrets.backend = "none";
          # Fail loudly if the agent is not reachable, instead of quietly
          # running standalone.
          agent.mode = "required";
          # Sizes that fit the VM, so admission says yes.
          container = {
            cpus = 1;
            memory = "512M";
          };
          caps.max_global = 3;
        };
      };
    };

  testScript = ''
    import json
    import shlex


    def as_user(user, command):
        # A login shell: pam_systemd sets XDG_RUNTIME_DIR, so the CLI finds
        # the user's own systemd and podman, as over SSH.
        return f"su - {user} -c {shlex.quote(command)}"


    def ledger_names():
        ledger = json.loads(machine.succeed("cat /var/lib/devbox-quadlet/ledger.json"))
        return sorted(ledger.get("entries", {}).keys())


    machine.wait_for_unit("multi-user.target")

    with subtest("lingering user managers start without a login"):
        machine.wait_for_unit("user@1001.service")
        machine.wait_for_unit("user@1002.service")

    with subtest("the config was validated at build time and is in place"):
        machine.succeed("devbox-quadlet config validate /etc/devbox-quadlet/config.toml")
        machine.succeed("grep -q '^\\[users.alice\\]' /etc/devbox-quadlet/config.toml")

    with subtest("the module loads the image into each user's store"):
        for user in ("alice", "bob"):
            machine.wait_for_unit("devbox-image-load.service", user=user, timeout=1200)
            machine.succeed(as_user(user, "podman image exists localhost/devbox:latest"))
            machine.succeed(
                as_user(user, "podman image inspect --format '{{ index .Labels \"io.github.devbox-quadlet.notify\" }}' localhost/devbox:latest | grep -qx true")
            )

    with subtest("the reaper's timer runs for every user"):
        machine.wait_until_succeeds(as_user("alice", "systemctl --user is-active devbox-quadlet-reap.timer"))

    with subtest("create: the unit is active and the agent holds the name"):
        machine.succeed(as_user("alice", "devbox-quadlet create demo"))
        machine.succeed(as_user("alice", "systemctl --user is-active devbox-demo.service"))
        machine.succeed("systemctl is-active devbox-quadlet-agent.service")
        assert "demo" in ledger_names(), ledger_names()
        listed = json.loads(machine.succeed(as_user("alice", "devbox-quadlet list --json")))
        assert [c["name"] for c in listed["containers"]] == ["demo"], listed

    with subtest("another user's names and containers stay apart"):
        status, out = machine.execute(as_user("bob", "devbox-quadlet create demo"))
        assert status == 4, f"bob took alice's name: exit {status}: {out}"
        machine.succeed(as_user("bob", "devbox-quadlet create bobbox"))
        mine = json.loads(machine.succeed(as_user("bob", "devbox-quadlet list --json")))
        assert [c["name"] for c in mine["containers"]] == ["bobbox"], mine
        # alice is an admin: the agent's ledger shows her both, with owners.
        every = json.loads(machine.succeed(as_user("alice", "devbox-quadlet list --all --json")))
        owners = {e["name"]: e["user"] for e in every["entries"]}
        assert owners == {"demo": "alice", "bobbox": "bob"}, owners
        machine.fail(as_user("bob", "devbox-quadlet list --all"))

    with subtest("containers come back after a reboot"):
        machine.shutdown()
        machine.start()
        machine.wait_for_unit("user@1001.service")
        machine.wait_until_succeeds(as_user("alice", "systemctl --user is-active devbox-demo.service"), timeout=600)
        machine.wait_until_succeeds(as_user("bob", "systemctl --user is-active devbox-bobbox.service"), timeout=600)
        # The loader's stamp is current: no second load of the same image.
        machine.wait_for_unit("devbox-image-load.service", user="alice")
        machine.succeed("journalctl -b _UID=1001 --user-unit=devbox-image-load.service | grep -q 'is loaded'")

    with subtest("destroy removes the unit and releases the name"):
        machine.succeed(as_user("alice", "devbox-quadlet destroy --yes demo"))
        machine.fail(as_user("alice", "systemctl --user is-active devbox-demo.service"))
        assert "demo" not in ledger_names(), ledger_names()
        machine.succeed(as_user("bob", "systemctl --user is-active devbox-bobbox.service"))
        machine.succeed("devbox-quadlet ledger check")
  '';
}
