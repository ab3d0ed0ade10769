package quadlet

// Prefix starts every file, unit, container, volume and secret name this tool
// owns, so `systemctl --user list-units 'devbox-*'` shows exactly ours.
const Prefix = "devbox-"

// ContainerFile is the quadlet file name of container name.
func ContainerFile(name string) string { return Prefix + name + ".container" }

// VolumeFile is the quadlet file name of the home volume of container name.
func VolumeFile(name string) string { return Prefix + name + "-home.volume" }

// ServiceUnit is the systemd unit that quadlet generates from ContainerFile.
func ServiceUnit(name string) string { return Prefix + name + ".service" }

// VolumeServiceUnit is the oneshot unit that quadlet generates from VolumeFile.
func VolumeServiceUnit(name string) string { return Prefix + name + "-home-volume.service" }

// ContainerName is the podman container name (quadlet would say systemd-NAME).
func ContainerName(name string) string { return Prefix + name }

// VolumeName is the podman volume that holds /home/dev.
func VolumeName(name string) string { return Prefix + name + "-home" }

// SecretName is the podman secret that will hold the Tailscale auth key.
func SecretName(name string) string { return Prefix + name + "-tsauthkey" }

// HomeMount is where the home volume is mounted inside the container.
const HomeMount = "/home/dev"
