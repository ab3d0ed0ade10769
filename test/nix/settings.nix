# test/nix/settings.nix: a fixed settings attrset for the golden render, one
# value of each kind the TOML writer handles and a key in every section, as
# a host's NixOS module settings would be.
{
  agent = {
    mode = "required";
    allowed_group = "devbox";
    auth_key_burst = 5;
  };
  caps = {
    max_global = 7;
    max_per_user = 3;
    reservation_timeout = "5m";
  };
  container = {
    image = "localhost/devbox:latest";
    cpus = 2.5;
    memory = "8G";
  };
  host = {
    overcommit = 1.5;
  };
  reaper = {
    idle_stop = "7d";
    stopped_destroy = "14d";
  };
  secrets = {
    backend = "file";
    path = "/etc/devbox-quadlet/authkeys/{user}";
  };
  tailnet = {
    login_server = "https://headscale.example.com";
    # null: not set, so Go's default applies and the key is left out.
    api_url = null;
  };
}
