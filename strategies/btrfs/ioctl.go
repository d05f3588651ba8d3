package btrfs

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// btrfs ioctls (linux/btrfs.h), not in golang.org/x/sys/unix.
const (
	iocSubvolCreate   = 0x5000940e // _IOW(0x94, 14, struct btrfs_ioctl_vol_args)
	iocSnapDestroy    = 0x5000940f // _IOW(0x94, 15, struct btrfs_ioctl_vol_args)
	iocSpaceInfo      = 0xc0109414 // _IOWR(0x94, 20, struct btrfs_ioctl_space_args)
	iocSnapCreateV2   = 0x50009417 // _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2)
	iocSubvolGetflags = 0x80089419 // _IOR(0x94, 25, __u64)

	subvolReadOnly    = 1 << 1 // BTRFS_SUBVOL_RDONLY
	firstFreeObjectID = 256    // the inode number of every subvolume's root
	blockGroupData    = 1      // BTRFS_BLOCK_GROUP_DATA
)

// volArgs is struct btrfs_ioctl_vol_args (4096 bytes).
type volArgs struct {
	fd   int64
	name [4088]byte
}

// volArgsV2 is struct btrfs_ioctl_vol_args_v2 (4096 bytes).
type volArgsV2 struct {
	fd      int64
	transid uint64
	flags   uint64
	unused  [4]uint64
	name    [4040]byte
}

type spaceInfo struct {
	flags, totalBytes, usedBytes uint64
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

func volArgsIoctl(dir int, req uintptr, name string) error {
	var a volArgs
	copy(a.name[:len(a.name)-1], name)
	err := ioctl(dir, req, unsafe.Pointer(&a))
	runtime.KeepAlive(&a)
	return err
}

// withDir runs fn on an open descriptor of directory path.
func withDir(path string, fn func(fd int) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// dataUsed returns the bytes used in data block groups (BTRFS_IOC_SPACE_INFO).
func dataUsed(root string) (int64, error) {
	var used int64
	err := withDir(root, func(fd int) error {
		const slots = 16
		var buf struct {
			spaceSlots, totalSpaces uint64
			spaces                  [slots]spaceInfo
		}
		buf.spaceSlots = slots
		err := ioctl(fd, iocSpaceInfo, unsafe.Pointer(&buf))
		runtime.KeepAlive(&buf)
		if err != nil {
			return err
		}
		for _, s := range buf.spaces[:min(buf.totalSpaces, slots)] {
			if s.flags&blockGroupData != 0 {
				used += int64(s.usedBytes)
			}
		}
		return nil
	})
	return used, err
}
