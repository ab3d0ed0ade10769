# DSA keys are gone from OpenSSH.
# expect: user "bob": sshKeys[0]: unknown key type "ssh-dss"
{
  bob = {
    uid = 1002;
    sshKeys = [ "ssh-dss AAAAB3NzaC1kc3MAAACBAP bob@old" ];
  };
}
