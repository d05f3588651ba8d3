// Package rbd is the real-system peer engine "rbd": Ceph RBD images in a
// pool of a Ceph cluster, driven in process through librbd and librados.
//
// Mechanism: a base or a clone is an RBD image (format 2, the features of
// the option features, objects of 2^order bytes); a snapshot is an RBD
// snapshot of its source's image, opened read-only; a snapshot of a
// snapshot is the same RBD snapshot. Clone of a base or clone takes an RBD
// snapshot of its image, protects it when clone-format is 1, and clones it
// (layering: the clone's image has that snapshot as parent, and the first
// write to an object the clone does not hold copies the whole object up
// from the parent); a clone of a snapshot clones that snapshot. CloneMany
// takes one snapshot and makes every clone of it, up to 16 at a time from
// this process, as golden-image bursts do in OpenStack and Kubernetes.
// Volume IO is synchronous rbd_read/rbd_write on the caller's goroutine,
// each volume handle an rbd_image_t of its own; the queue depth is the
// number of goroutines doing IO (librbd is thread-safe, and a goroutine
// waiting in librbd holds only its OS thread). The client's cache is off
// (rbd_cache=false), so an acknowledged write is on the OSDs: Snapshot and
// Clone see it through another handle, and Flush is cheap.
//
// Caps: snapshot, clone, nested, many volumes, thin; not DeleteParent.
// RBD cannot remove an image that has snapshots nor a snapshot that has
// clones (clone format 2 would move it to the trash until they go), so
// Delete of a volume with children fails with ErrHasChildren; with
// flatten-on-delete=true, a volume whose children are all clones is
// deleted after flattening them (each copies every object it still
// shares: the cost shows in the phase's counters). Snapshots the engine
// took for clones are removed with their last clone.
//
// Metadata: the volume table is one RADOS object (INSTANCE.table) in the
// pool, replaced whole with rados_write_full (atomic); the engine's
// snapbench device holds only a header naming the instance
// (PREFIX-RANDOM) and the pool, written once at Format. Images are named
// INSTANCE.ID, snapshots PREFIX.sID and PREFIX.cID. Open removes what an
// interrupted operation left (images of the instance and snapshots of
// ours that no volume uses), as the other peers do with stray files.
//
// Check (snapbench check): compares the table in the pool with the one in
// memory, then with the cluster: every volume's image exists with its
// recorded size and RBD parent (a clone's origin snapshot, none once
// flattened), every snapshot a volume or clone uses exists, and nothing of
// the instance is left that no volume explains. It reads no data:
// scrubbing is the cluster's (ceph osd deep-scrub).
//
// Accounting: snapbench's device counters see none of this IO. Stats
// reports the OSDs' perf counters (ceph tell osd.N perf dump, sent
// through librados) since Format or Open under the fs_* keys of the
// peers, plus cluster_osds, so the tables mark them cluster-side:
// fs_write_ios are the client write ops the OSDs served (copy-ups
// included), fs_write_bytes their bytes plus replication between OSDs,
// cluster_store_write_bytes what BlueStore wrote for data. They count
// every client of the cluster. Space is the cluster's raw capacity and
// free space; Data is what the pool stores (from the monitors' pool
// statistics, a few seconds behind), Metadata the rest of what is used.
// PrivateBytes is not computed (it would need a diff of every image).
//
// Cleanup: Close closes every handle and disconnects; it keeps the images
// (the engine can be reopened). With purge=true, Close removes every image
// and the table of the instance: the option for throwaway runs (snapbench
// run --opt rbd.purge=true).
//
// Needs: librbd.so.1 and librados.so.2 (Debian: librbd1, librados2),
// loaded at run time, so snapbench builds without them; a cluster reachable
// through the conf file (option conf, else $SNAPBENCH_CEPH_CONF, else
// /etc/ceph/ceph.conf) and an existing pool (option pool, else
// $SNAPBENCH_CEPH_POOL, else rbd); clone format 2 needs the cluster's
// require-min-compat-client to be mimic or newer. ci/ceph-cluster.sh starts
// a throwaway single-node cluster. Crash tests cannot be run: the cluster
// keeps its own state.
package rbd
