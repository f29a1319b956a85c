// The dev stack's few admin calls that aiokafka lacks, through Kafka's own Admin client, in one JVM:
//   java -cp '<libs>/*' KafkaAdmin.java <client.properties> <requests file>
// Each line of the requests file is one request (fields separated by single spaces):
//   acl+ <principal> <TOPIC|GROUP|CLUSTER> <LITERAL|PREFIXED> <name> <operation>   create an ALLOW ACL
//   acl- <principal> <TOPIC|GROUP|CLUSTER> <LITERAL|PREFIXED> <name> <operation>   delete it
//   scram <user> <SCRAM-SHA-256|SCRAM-SHA-512> <password>                        set a user's password
//   acls                                                                           print every ACL, one a line
// The file is the caller's (it may hold passwords): it is read, never echoed.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class KafkaAdmin {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        try (var in = Files.newInputStream(Path.of(args[0]))) {
            config.load(in);
        }
        List<AclBinding> create = new ArrayList<>();
        List<AclBindingFilter> delete = new ArrayList<>();
        List<UserScramCredentialAlteration> scram = new ArrayList<>();
        boolean list = false;
        for (String line : Files.readAllLines(Path.of(args[1]))) {
            String[] f = line.strip().split(" ");
            switch (f[0]) {
                case "acl+", "acl-" -> {
                    AclBinding binding = new AclBinding(
                        new ResourcePattern(ResourceType.fromString(f[2]), f[4], PatternType.fromString(f[3])),
                        new AccessControlEntry(f[1], "*", AclOperation.fromString(f[5]), AclPermissionType.ALLOW));
                    if (f[0].equals("acl+")) create.add(binding); else delete.add(binding.toFilter());
                }
                case "scram" -> scram.add(new UserScramCredentialUpsertion(
                    f[1], new ScramCredentialInfo(ScramMechanism.fromMechanismName(f[2]), 4096), f[3]));
                case "acls" -> list = true;
                case "" -> { }
                default -> throw new IllegalArgumentException("unknown request " + f[0]);
            }
        }
        try (Admin admin = Admin.create(config)) {
            if (!scram.isEmpty()) admin.alterUserScramCredentials(scram).all().get();
            if (!create.isEmpty()) admin.createAcls(create).all().get();
            if (!delete.isEmpty()) admin.deleteAcls(delete).all().get();
            if (list) {
                for (AclBinding b : admin.describeAcls(AclBindingFilter.ANY).values().get()) {
                    System.out.println(b.entry().principal() + " " + b.pattern().resourceType() + " "
                        + b.pattern().patternType() + " " + b.pattern().name() + " " + b.entry().operation());
                }
            }
        }
    }
}
